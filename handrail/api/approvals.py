"""Approvals: what is waiting for a person, and the decision that resumes the run."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from handrail import approvals
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import LimitQuery, OffsetQuery
from handrail.approvals import Approval
from handrail.runs import service
from handrail.runs.repo import Run

router = APIRouter(prefix="/approvals", tags=["approvals"])


class Decision(BaseModel):
    """A reviewer's answer. `edit` args are merged over the planned arguments and re-validated.

    Checked by the same code as `command.resume` (nodes.review.parse_review, MAX_FEEDBACK_CHARS
    included), so both ways of deciding refuse the same answers."""

    decision: Literal["approve", "edit", "reject"]
    args: dict[str, Any] | None = None
    feedback: str | None = None


class DecidedApproval(Approval):
    """The approval as decided, and the run that resumes the paused one."""

    run: Run


@router.get("")
async def list_approvals(
    services: ServicesDep,
    principal: PrincipalDep,
    status: Literal["pending", "approved", "edited", "rejected", "expired"] | None = None,
    thread_id: str | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> list[Approval]:
    rows = await approvals.search(
        services.pool, principal, status=status, thread_id=thread_id, limit=limit, offset=offset
    )
    return [Approval.from_row(r) for r in rows]


@router.get("/{approval_id}")
async def get_approval(approval_id: str, services: ServicesDep, principal: PrincipalDep) -> Approval:
    return Approval.from_row(await approvals.get(services.pool, principal, approval_id))


@router.post("/{approval_id}", response_model_exclude_unset=True)
async def decide(approval_id: str, body: Decision, services: ServicesDep, principal: PrincipalDep) -> DecidedApproval:
    """Decide once and resume the paused run in the background (as `command.resume` would)."""
    row, run = await service.resume_approval(services, principal, approval_id, body.model_dump(exclude_none=True))
    return DecidedApproval(**Approval.from_row(row).model_dump(), run=Run.from_row(run))
