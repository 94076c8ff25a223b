"""Two API replicas on one database: runs executed by one are streamed and joined through the other,
over Redis pub/sub and over Postgres LISTEN/NOTIFY. Also: approvals that nobody decides expire as
rejections, and the run webhook reports the finished run, signed."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from server import create_app
from tests.e2e.conftest import KEYS, WEBHOOK_SECRET, e2e_settings
from tests.e2e.helpers import EMAIL_REQUEST, outbox_count, user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.servers import redis_url
from tests.support.waiting import eventually
from tests.support.webhook_receiver import running_receiver


@pytest.fixture(scope="module", params=["redis", "postgres"])
async def replicas(request: Any) -> AsyncIterator[tuple[str, str, str, str]]:
    """(executing replica, API-only replica, bus kind, database DSN) sharing a fresh database."""
    bus = (
        {"redis_url": redis_url(), "redis_prefix": f"handrail-test-{uuid.uuid4().hex[:8]}:"}
        if request.param == "redis"
        else {}
    )
    with fresh_database("handrail_replicas") as dsn:
        async with AsyncExitStack() as stack:
            worker_side = e2e_settings(dsn, workers=2, approval_ttl_s=1.5, stateless_thread_ttl_s=1, **bus)
            api_side = e2e_settings(dsn, workers=0, approval_ttl_s=1.5, stateless_thread_ttl_s=1, **bus)
            a = await stack.enter_async_context(serving(create_app(worker_side), port=worker_side.port))
            b = await stack.enter_async_context(serving(create_app(api_side), port=api_side.port))
            yield a, b, request.param, dsn


async def test_a_run_queued_on_one_replica_streams_through_the_other(replicas):
    executing, api_only, bus, _ = replicas
    via_b = get_client(url=api_only, api_key=KEYS["alice"])
    tid = (await via_b.threads.create())["thread_id"]

    info = await via_b.http.get("/info")
    parts = [p async for p in via_b.runs.stream(tid, "agent", input=user("what is 6*7"), stream_mode="updates")]

    assert [next(iter(p.data)) for p in parts[1:]] == ["plan", "execute", "reflect", "synthesize"]
    assert info["handrail"]["bus"] == bus
    run = (await via_b.runs.list(tid))[0]
    via_a = get_client(url=executing, api_key=KEYS["alice"])
    assert (await via_a.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_an_undecided_approval_expires_as_a_rejection(replicas, pool):
    executing, _, _, _ = replicas
    client = get_client(url=executing, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))

    async def expired() -> dict | None:
        (approval,) = await client.http.get("/approvals", params={"thread_id": tid})
        return approval if approval["status"] == "expired" else None

    approval = await eventually(expired, within_s=30)
    assert "expired" in approval["reason"] and approval["decision"]["decision"] == "reject"

    async def resumed_run_finished() -> bool:
        runs = await client.runs.list(tid)
        return len(runs) == 2 and all(r["status"] == "success" for r in runs)

    await eventually(resumed_run_finished, within_s=30)  # the expiry resumed the thread with a reject
    state = await client.threads.get_state(tid)
    assert "approval expired" in state["values"]["final_answer"]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_the_run_webhook_reports_the_finished_run_signed_and_a_lost_one_is_resent(replicas):
    executing, _, _, dsn = replicas
    client = get_client(url=executing, api_key=KEYS["alice"])
    async with running_receiver(secret=WEBHOOK_SECRET) as receiver:
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "agent", input=user("what is 6*7"), webhook=receiver.url)

        async def delivered(count: int = 1) -> bool:
            return len(receiver.requests) >= count

        await eventually(delivered, within_s=20)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            sent = await (
                await conn.execute("SELECT webhook_sent_at FROM runs WHERE run_id = %s", (run["run_id"],))
            ).fetchone()
            assert sent[0] is not None, "the delivery is recorded"
            # As if the process had stopped mid-delivery an hour ago.
            await conn.execute(
                "UPDATE runs SET webhook_sent_at = NULL, webhook_attempted_at = now() - "
                "interval '1 hour' WHERE run_id = %s",
                (run["run_id"],),
            )
        await eventually(lambda: delivered(2), within_s=20)

    first, again = (json.loads(r.body) for r in receiver.requests[:2])
    assert all(r.verified for r in receiver.requests)
    assert (first["run_id"], first["status"]) == (run["run_id"], "success")
    assert "6*7 = 42" in first["values"]["final_answer"]
    assert again["values"] == first["values"] and again["status"] == "success"


async def test_multitask_interrupt_and_rollback_replace_the_running_run(replicas, pool):
    executing, _, _, _ = replicas
    client = get_client(url=executing, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    slow = 'call probe with {"label": "slow", "seconds": 60}'
    first = await client.runs.create(tid, "agent", input=user(slow))
    assert (await client.threads.get(tid))["status"] == "busy"

    async def running(run_id: str) -> bool:
        return (await client.runs.get(tid, run_id))["status"] == "running"

    await eventually(lambda: running(first["run_id"]))
    second = await client.runs.create(tid, "agent", input=user(slow), multitask_strategy="interrupt")
    await eventually(lambda: running(second["run_id"]))
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"

    third = await client.runs.create(tid, "agent", input=user("what is 1+1"), multitask_strategy="rollback")
    result = await client.runs.join(tid, third["run_id"])
    assert "1+1 = 2" in result["final_answer"]
    listed = {r["run_id"] for r in await client.runs.list(tid)}
    assert second["run_id"] not in listed, "a rolled-back run is deleted"
    assert {first["run_id"], third["run_id"]} <= listed
    assert await outbox_count(pool, tid) == 0


async def test_stateless_runs_answer_and_their_threads_are_swept_afterwards(replicas):
    executing, _, _, _ = replicas
    client = get_client(url=executing, api_key=KEYS["alice"])
    answers = [(await client.runs.wait(None, "agent", input=user(f"what is {i}*3")))["final_answer"] for i in range(5)]
    assert answers == [f"{i}*3 = {i * 3}" for i in range(5)]

    run = await client.runs.create(None, "agent", input=user("what is 2*2"))
    assert "2*2 = 4" in (await client.runs.join(run["thread_id"], run["run_id"]))["final_answer"]

    async def swept() -> bool:
        try:
            await client.threads.get(run["thread_id"])
        except NotFoundError:
            return True
        return False

    assert await eventually(swept, within_s=30)
