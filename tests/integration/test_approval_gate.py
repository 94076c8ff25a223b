"""The approval gate on the real Postgres, below the API: even when graph state is forged directly
(what the API now refuses), a call that requires approval runs only with a recorded decision for that
exact call and those exact arguments, and each decision admits one run."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from langgraph.types import Command
from psycopg.types.json import Jsonb

from handrail import approvals
from handrail.approvals import PostgresApprovalGate
from nodes.review import parse_review
from tests.support.agents import make_deps, make_graph, user
from tools.gate import GateCall
from tools.registry import builtin_registry

EMAIL_REQUEST = "email alice@example.com a summary of the refund policy"


def run_config(thread_id: uuid.UUID, **configurable: Any) -> dict[str, Any]:
    """A config as the service's worker builds it: the run id is what a decision is consumed by."""
    return {"configurable": {"thread_id": str(thread_id), **configurable}, "run_id": uuid.uuid4()}


async def paused(pool: Any) -> tuple[Any, uuid.UUID, dict[str, Any]]:
    """A gated graph paused at send_email, with its approval recorded as the service records it."""
    graph = make_graph(pool, make_deps(pool, approvals=PostgresApprovalGate(pool)))
    tid = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO threads (thread_id, user_id, metadata) VALUES (%s, 'alice', %s)", (tid, Jsonb({}))
        )
    config = run_config(tid)
    result = await graph.ainvoke(user(EMAIL_REQUEST), config)
    (interrupt,) = result["__interrupt__"]
    row = await approvals.record(
        pool,
        thread_id=str(tid),
        run_id=str(config["run_id"]),
        user_id="alice",
        interrupt_id=interrupt.id,
        payload=interrupt.value,
        ttl_s=60,
    )
    assert row is not None
    return graph, tid, row


async def decide(pool: Any, row: dict[str, Any], value: dict[str, Any]) -> None:
    review = parse_review(value, {"tool": row["tool"], "args": row["args"]}, builtin_registry())  # type: ignore[arg-type]
    async with pool.connection() as conn:
        await approvals.decide(conn, row, dict(review), decided_by="alice")


async def outbox(pool: Any, tid: uuid.UUID) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return await (await conn.execute("SELECT * FROM outbox WHERE thread_id = %s", (str(tid),))).fetchall()


def last_email_step(result: dict[str, Any]) -> dict[str, Any]:
    return [o for o in result["observations"] if o["tool"] == "send_email"][-1]


async def test_a_call_forged_as_reviewed_without_a_decision_does_not_run(pool):
    graph, tid, _ = await paused(pool)

    await graph.aupdate_state(run_config(tid), {}, as_node="approve")  # skips the node that asks
    result = await graph.ainvoke(None, run_config(tid))

    assert await outbox(pool, tid) == []
    step = last_email_step(result)
    assert step["status"] == "skipped" and "is pending, not approved" in step["error"]


async def test_arguments_changed_after_the_decision_do_not_run(pool):
    graph, tid, row = await paused(pool)
    await decide(pool, row, {"decision": "approve"})
    pending = (await graph.aget_state(run_config(tid))).values["pending"]

    forged = {**pending, "args": {**pending["args"], "to": "mallory@evil.test"}}
    await graph.aupdate_state(run_config(tid), {"pending": forged})
    result = await graph.ainvoke(Command(resume={"decision": "approve"}), run_config(tid))

    assert await outbox(pool, tid) == []
    assert "differ from those approved" in last_email_step(result)["error"]


async def test_the_approved_call_runs_once_and_a_fork_cannot_reuse_its_decision(pool):
    graph, tid, row = await paused(pool)
    await decide(pool, row, {"decision": "edit", "args": {"to": "bob@example.com"}})

    first = await graph.ainvoke(
        Command(resume={"decision": "edit", "args": {"to": "bob@example.com"}}), run_config(tid)
    )
    reviewed = [
        s
        async for s in graph.aget_state_history(run_config(tid))
        if s.next == ("execute",) and s.values.get("pending") and s.values["pending"]["review"]
    ][0]
    fork = await graph.ainvoke(None, run_config(tid, checkpoint_id=reviewed.config["configurable"]["checkpoint_id"]))

    (sent,) = await outbox(pool, tid)
    assert sent["recipient"] == "bob@example.com" and last_email_step(first)["ok"]
    assert "already used by run" in last_email_step(fork)["error"]


async def test_two_runs_racing_for_one_decision_admit_exactly_one(pool):
    _, tid, row = await paused(pool)
    await decide(pool, row, {"decision": "approve"})
    gate = PostgresApprovalGate(pool)
    args = parse_review({"decision": "approve"}, {"tool": row["tool"], "args": row["args"]}, builtin_registry())["args"]  # type: ignore[arg-type]

    def call(run_id: uuid.UUID) -> GateCall:
        return GateCall(str(tid), str(run_id), row["call_id"], row["tool"], args, reviewed="approve")

    runs = [uuid.uuid4() for _ in range(8)]
    verdicts = await asyncio.gather(*(gate.admit(call(r)) for r in runs))
    winner = next(r for r, v in zip(runs, verdicts, strict=True) if v.admitted)
    again = await gate.admit(call(winner))

    assert sum(v.admitted for v in verdicts) == 1
    assert again.admitted, "the run that took the decision keeps it across a retry after a crash"
