"""Handoffs: conversations handed to a person, and that person's replies, resolution or return to the agent."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from handrail import handoffs
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import LimitQuery, OffsetQuery
from handrail.handoffs import Handoff
from handrail.runs import service
from handrail.runs.repo import Run

router = APIRouter(prefix="/handoffs", tags=["handoffs"])


class Reply(BaseModel):
    """What the person writes to the user: appended to the thread as their message."""

    message: str = Field(min_length=1, max_length=32_000)


class Closing(BaseModel):
    """An optional last word to the user, appended to the thread before it closes or goes back to the agent."""

    message: str | None = Field(None, min_length=1, max_length=32_000)


class AnsweredHandoff(Handoff):
    """The handoff after the answer, and the run that puts the answer in the thread."""

    run: Run


@router.get("")
async def list_handoffs(
    services: ServicesDep,
    principal: PrincipalDep,
    status: Literal["open", "resolved", "returned"] | None = None,
    thread_id: str | None = None,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
) -> list[Handoff]:
    """The caller's handoffs, newest first (an admin key: everyone's)."""
    rows = await handoffs.search(
        services.pool, principal, status=status, thread_id=thread_id, limit=limit, offset=offset
    )
    return [Handoff.from_row(r) for r in rows]


@router.get("/{handoff_id}")
async def get_handoff(handoff_id: str, services: ServicesDep, principal: PrincipalDep) -> Handoff:
    row, replies = await handoffs.get(services.pool, principal, handoff_id)
    return Handoff.from_row(row, replies)


@router.post("/{handoff_id}/reply", response_model_exclude_unset=True)
async def reply(handoff_id: str, body: Reply, services: ServicesDep, principal: PrincipalDep) -> AnsweredHandoff:
    """Send the user a message; the thread stays with the person (409 once the handoff is closed)."""
    return await _answer(services, principal, handoff_id, "reply", body.message)


@router.post("/{handoff_id}/resolve", response_model_exclude_unset=True)
async def resolve(handoff_id: str, body: Closing, services: ServicesDep, principal: PrincipalDep) -> AnsweredHandoff:
    """Close the handoff: the thread ends with the person's last word and is idle."""
    return await _answer(services, principal, handoff_id, "resolve", body.message)


@router.post("/{handoff_id}/return", response_model_exclude_unset=True)
async def return_to_agent(
    handoff_id: str, body: Closing, services: ServicesDep, principal: PrincipalDep
) -> AnsweredHandoff:
    """Hand the thread back to the agent: the user's next message is the agent's to answer."""
    return await _answer(services, principal, handoff_id, "return", body.message)


async def _answer(
    services: ServicesDep, principal: PrincipalDep, handoff_id: str, action: str, message: str | None
) -> AnsweredHandoff:
    row, replies, run = await service.resume_handoff(services, principal, handoff_id, action, message)
    return AnsweredHandoff(**Handoff.from_row(row, replies).model_dump(), run=Run.from_row(run))
