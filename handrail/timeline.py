"""A thread's timeline, for a person reading what happened: each run with the graph nodes it went through, its model
calls (by node) and tool calls (ok or error, latency), the audit log's events of the thread (tool calls, approvals
asked and decided, and by whom, guardrail blocks), its approvals, and the Langfuse trace of each run where tracing is
configured.

Read from what is already recorded: the thread's checkpoints (each names the nodes that run next and the run that
wrote it; as many as pruning keeps, CHECKPOINTS_KEEP), `runs.summary` (handrail/runs/summary.py), `audit_log`,
`approvals`."""

from __future__ import annotations

import uuid
from datetime import datetime
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
MAX_CHECKPOINTS = 100


class TimelineNode(BaseModel):
    """A graph node the run went through, in order: from the checkpoint before it to the one it wrote."""

    node: str
    step: int
    latency_ms: float | None = Field(description="Until its checkpoint was written; none when it paused the run.")
    paused: bool = Field(description="It stopped the run at an interrupt (an approval, a breakpoint).")


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
    nodes: list[TimelineNode] = Field(description="From the checkpoints the thread keeps (older ones are pruned).")
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
    nodes = await _nodes_by_run(services, str(tid))
    return ThreadTimeline(
        thread_id=tid,
        user_id=thread["user_id"],
        status=thread["status"],
        created_at=thread["created_at"],
        updated_at=thread["updated_at"],
        runs=[
            _run(
                r,
                nodes.get(str(r["run_id"]), []),
                [e for e in events if e.run_id == r["run_id"]],
                resumed.get(r["run_id"]),
                _trace_url(services, r),
            )
            for r in runs
        ],
        approvals=[Approval.from_row(a) for a in reversed(asked)],
        events=[e for e in events if e.run_id not in run_ids],
    )


async def _nodes_by_run(services: Services, thread_id: str) -> dict[str, list[TimelineNode]]:
    """Checkpoint k names the nodes that run next (`next`); checkpoint k+1 was written by the run that ran them, and
    when. A node whose next checkpoint was written by another run paused its own at an interrupt (an approval) and
    ran again in the run that resumed it; one with no checkpoint after it paused the run or is running now."""
    config = {"configurable": {"thread_id": thread_id}}
    snapshots = [s async for s in services.graph.aget_state_history(config, limit=MAX_CHECKPOINTS)]
    snapshots.reverse()  # oldest first
    found: dict[str, list[TimelineNode]] = {}

    def add(run_id: str, node: str, step: int, latency_ms: float | None, paused: bool) -> None:
        found.setdefault(run_id, []).append(TimelineNode(node=node, step=step, latency_ms=latency_ms, paused=paused))

    for i, before in enumerate(snapshots):
        after = snapshots[i + 1] if i + 1 < len(snapshots) else None
        own = str((before.metadata or {}).get("run_id") or "")
        step = int((before.metadata or {}).get("step", -1)) + 1
        for node in (n for n in before.next if not n.startswith("__")):  # not __start__: the input, no node
            if after is None:
                add(own, node, step, None, bool(before.interrupts))
                continue
            by = str((after.metadata or {}).get("run_id") or "")
            if by != own:
                add(own, node, step, None, True)
                add(by, node, step, None, False)
                continue
            elapsed = datetime.fromisoformat(after.created_at or "") - datetime.fromisoformat(before.created_at or "")
            add(own, node, step, round(elapsed.total_seconds() * 1000, 1), False)
    return found


def _trace_url(services: Services, run: dict[str, Any]) -> str | None:
    """Built from the configured Langfuse host, never read from the run's metadata: a client writes that metadata,
    and a link it chose (another host, a `javascript:` URL) would be shown to every reviewer of the thread."""
    trace_id = tracing.run_trace_id(run)
    if services.tracer is None or trace_id is None:
        return None
    return services.tracer.metadata(trace_id).get(tracing.TRACE_URL)


def _run(
    row: dict[str, Any],
    nodes: list[TimelineNode],
    events: list[TimelineEvent],
    resumes: str | None,
    trace_url: str | None,
) -> TimelineRun:
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
        nodes=nodes,
        steps=steps,
        events=events,
        error=row.get("error"),
        trace_url=trace_url,
    )
