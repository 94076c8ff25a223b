"""A thread's timeline, for a person reading what happened: each run with its model calls (by node) and tool calls
(ok or error, latency), the audit log's events of the thread (tool calls, approvals asked and decided, and by whom,
guardrail blocks), its approvals, and the Langfuse trace of each run where tracing is configured.

Read from what is already recorded: `runs.summary` (handrail/runs/summary.py), `audit_log`, `approvals`."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from handrail import approvals, audit, threads, tracing
from handrail.approvals import Approval
from handrail.auth import Principal
from handrail.runs import repo
from handrail.services import Services
from handrail.wire import Timestamp

MAX_RUNS = 200
MAX_EVENTS = 1000


class TimelineStep(BaseModel):
    """A model call (`llm`, by the node that made it) or a tool call (`tool`), in the order the run made them."""

    node: str
    kind: Literal["llm", "tool"]
    name: str = Field(description="The model, or the tool.")
    ok: bool
    latency_ms: float | None


class TimelineEvent(BaseModel):
    """One audit-log row of the thread: tool_call, approval_requested, approval_decided, guardrail_block, …"""

    id: int
    at: Timestamp
    kind: str
    actor: str | None = Field(description="Who: the user, the reviewer who decided, or `handrail`.")
    run_id: uuid.UUID | None
    tool: str | None
    outcome: str | None
    detail: dict[str, Any] | None


class TimelineRun(BaseModel):
    run_id: uuid.UUID
    status: str
    created_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None
    paused: bool = Field(description="It ended waiting for a person (an approval).")
    resumes_approval: str | None = Field(description="The approval whose decision this run carries out.")
    steps: list[TimelineStep]
    events: list[TimelineEvent] = Field(description="The audit log's events of this run, oldest first.")
    error: dict[str, Any] | None
    trace_url: str | None = Field(description="The run's Langfuse trace, where Langfuse is configured.")


class ThreadTimeline(BaseModel):
    thread_id: uuid.UUID
    user_id: str | None
    status: str
    created_at: Timestamp
    updated_at: Timestamp
    runs: list[TimelineRun] = Field(description="Oldest first.")
    approvals: list[Approval] = Field(description="Oldest first.")
    events: list[TimelineEvent] = Field(description="Audit events of the thread tied to no run of it.")


async def thread_timeline(services: Services, principal: Principal, thread_id: str) -> ThreadTimeline:
    """404 for another user's thread (an admin sees every thread), as every thread route answers."""
    thread = await threads.get_thread(services.pool, principal, thread_id)
    tid = thread["thread_id"]
    runs = list(reversed(await repo.list_runs(services.pool, tid, limit=MAX_RUNS, offset=0, status=None)))
    asked = await approvals.search(services.pool, principal, status=None, thread_id=str(tid), limit=500, offset=0)
    rows, _ = await audit.search(services.pool, audit.AuditFilter(thread_id=tid, limit=MAX_EVENTS))
    events = [TimelineEvent(**{k: r[k] for k in TimelineEvent.model_fields}) for r in rows]
    resumed = {a["resume_run_id"]: a["approval_id"] for a in asked if a["resume_run_id"] is not None}
    run_ids = {r["run_id"] for r in runs}
    return ThreadTimeline(
        thread_id=tid,
        user_id=thread["user_id"],
        status=thread["status"],
        created_at=thread["created_at"],
        updated_at=thread["updated_at"],
        runs=[_run(r, [e for e in events if e.run_id == r["run_id"]], resumed.get(r["run_id"])) for r in runs],
        approvals=[Approval.from_row(a) for a in reversed(asked)],
        events=[e for e in events if e.run_id not in run_ids],
    )


def _run(row: dict[str, Any], events: list[TimelineEvent], resumes: str | None) -> TimelineRun:
    summary = row.get("summary") or {}
    steps = [
        TimelineStep(
            node=str(s.get("node") or ""),
            kind="tool" if s.get("kind") == "tool" else "llm",
            name=str(s.get("name") or ""),
            ok=bool(s.get("ok", True)),
            latency_ms=s.get("latency_ms"),
        )
        for s in summary.get("steps", [])
    ]
    return TimelineRun(
        run_id=row["run_id"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row.get("started_at"),
        ended_at=row.get("ended_at"),
        paused=bool(summary.get("paused")),
        resumes_approval=resumes,
        steps=steps,
        events=events,
        error=row.get("error"),
        trace_url=(row.get("metadata") or {}).get(tracing.TRACE_URL),
    )
