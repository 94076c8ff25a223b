"""Operators' endpoints, admin keys only: the audit log, the per-tool kill switches, and the spend breaker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from guardrails.audit_event import SPEND_RESET, AuditEvent
from handrail import audit, spend, tool_switches
from handrail.api.deps import AdminDep, ServicesDep
from handrail.api.paging import MAX_LIMIT, keyset_page
from handrail.audit import AuditRecord
from handrail.errors import InfrastructureError, NotFound
from handrail.services import Services
from handrail.tool_switches import SwitchState

router = APIRouter(tags=["admin"])

_BIGINT = 2**63 - 1


@router.get("/audit")
async def read_audit(
    response: Response,
    services: ServicesDep,
    _: AdminDep,
    thread_id: Annotated[str | None, Query(description="Only this thread's events (a UUID).")] = None,
    run_id: Annotated[str | None, Query(description="Only this run's events (a UUID).")] = None,
    kind: Annotated[
        str | None, Query(description="tool_call, approval_requested, approval_decided, kill_switch, …")
    ] = None,
    actor: Annotated[str | None, Query(description="Who: a user id, a reviewer, an admin, or `handrail`.")] = None,
    tool: Annotated[str | None, Query(description="Only events about this tool.")] = None,
    since: Annotated[
        str | None, Query(description="ISO 8601 timestamp; events at or after it (no offset: UTC).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Most events to return (1 to {MAX_LIMIT}).")] = (
        audit.DEFAULT_LIMIT
    ),
    after: Annotated[
        int | None, Query(ge=0, le=_BIGINT, description="Cursor: events with a larger id (X-Pagination-Next).")
    ] = None,
) -> list[AuditRecord]:
    """The audit log, oldest first. The next page's cursor is in `X-Pagination-Next`; pass it as `after`.
    Polling with `after` set to the last id seen reads events as they are recorded."""
    query = audit.AuditFilter.parse(
        thread_id=thread_id, run_id=run_id, kind=kind, actor=actor, tool=tool, since=since, after=after, limit=limit
    )
    rows, next_after = await audit.search(services.pool, query)
    return keyset_page(response, [AuditRecord.from_row(r) for r in rows], next_after=next_after)


class ToolSwitch(BaseModel):
    """Turn a tool on or off for every replica. Runs that reach the tool while it is off are told so and go on
    without it; nothing already running is stopped mid-call."""

    enabled: bool
    reason: str | None = Field(None, max_length=1000, description="Shown to the model and recorded in the audit.")


class Tool(SwitchState):
    """A registered tool: its risk, whether a person approves each call, and its kill switch."""

    name: str
    risk: str
    requires_approval: bool

    @classmethod
    def of(cls, spec: Any, row: dict[str, Any] | None) -> Tool:
        switch = SwitchState.from_row(row)
        return cls(name=spec.name, risk=spec.risk, requires_approval=spec.requires_approval, **switch.model_dump())


class SpendLimits(BaseModel):
    GLOBAL_HOURLY_BUDGET_USD: float
    USER_DAILY_BUDGET_USD: float
    RATE_LIMIT_PER_MINUTE: int


class SpendReport(BaseModel):
    """This UTC hour's model spend: effective (after resets) and as recorded, and the limits in force."""

    hour: str = Field(description="The hour's start, e.g. 2025-01-31T12:00:00Z.")
    hour_total_usd: float = Field(description="What counts against GLOBAL_HOURLY_BUDGET_USD (after resets).")
    hour_recorded_usd: float = Field(description="Everything spent this hour, resets notwithstanding.")
    reset_usd: float
    reset_by: str | None
    reset_at: str | None
    limits: SpendLimits


@router.get("/admin/tools")
async def list_tools(services: ServicesDep, _: AdminDep) -> list[Tool]:
    """Every registered tool with its risk, whether it needs approval, and its switch."""
    switches = await tool_switches.all_switches(services.pool)
    return [Tool.of(spec, switches.get(spec.name)) for spec in services.deps.registry.specs()]


@router.put("/admin/tools/{tool}")
async def switch_tool(tool: str, body: ToolSwitch, services: ServicesDep, admin: AdminDep) -> Tool:
    """Switch a tool on or off (recorded in the audit log as `kill_switch`); this replica applies it at once,
    the others within TOOL_SWITCH_REFRESH_S."""
    spec = services.deps.registry.get(tool)
    if spec is None:
        raise NotFound(f"no tool named {tool!r}; GET /admin/tools lists the registered tools")
    row = await tool_switches.set_switch(
        services.pool, tool, enabled=body.enabled, reason=body.reason, changed_by=admin.user_id
    )
    await services.tool_switches.refresh()
    return Tool.of(spec, row)


@router.get("/admin/spend")
async def read_spend(services: ServicesDep, _: AdminDep) -> SpendReport:
    """This UTC hour's model spend against GLOBAL_HOURLY_BUDGET_USD (effective after resets, and as recorded),
    and the budgets and rate limit in force."""
    return SpendReport.model_validate(await spend.spend_report(_ledger(services), services.settings))


@router.post("/admin/spend/reset")
async def reset_spend(services: ServicesDep, admin: AdminDep) -> SpendReport:
    """Close the global hourly breaker on every replica: this hour's effective total restarts at 0, while what
    was spent stays on record with who reset it and when. Users' daily budgets are not touched."""
    ledger = _ledger(services)
    await ledger.reset_hour(by=admin.user_id)
    report = await spend.spend_report(ledger, services.settings)
    await audit.record(services.pool, AuditEvent(kind=SPEND_RESET, actor=admin.user_id, outcome="reset", detail=report))
    return SpendReport.model_validate(report)


def _ledger(services: Services) -> spend.SpendLedger:
    if services.spend is None:
        raise InfrastructureError("this server has no spend ledger; it is opened with the server's services")
    return services.spend
