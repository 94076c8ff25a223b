"""A worker killed with SIGKILL mid-run: another worker takes the run over after its lease lapses and
finishes it from the last checkpoint, so no step that had completed runs again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from handrail.db import make_pool
from handrail.migrate import migrate
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import probe_request, probe_rows, wait_for_probe
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.probe_tools import PROBE_TABLE
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crash_db() -> Iterator[str]:
    with fresh_database("handrail_crash") as dsn:  # its own queue: no other worker may claim these runs
        yield dsn


@pytest.fixture(scope="module")
async def crash_pool(crash_db: str) -> AsyncIterator[Any]:
    pool = make_pool(crash_db, max_size=4)
    await pool.open(wait=True)
    await migrate(pool)
    async with pool.connection() as conn:
        await conn.execute(PROBE_TABLE)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def api_only(crash_db: str, crash_pool: Any) -> AsyncIterator[str]:
    settings = e2e_settings(crash_db, workers=0)  # this API process executes nothing itself
    async with serving(create_app(settings), port=settings.port) as url:
        yield url


def start_worker(crash_db: str, lease_s: float = 2) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": crash_db,
        "WORKERS": "1",
        "HEARTBEAT_S": "0.3",
        "RUN_LEASE_S": str(lease_s),
        "WORKER_POLL_S": "0.2",
        "TOOL_MODULES": json.dumps(["tests.support.probe_tools"]),
        "API_KEYS": f"{KEYS['alice']}:alice",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "handrail", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def stop_workers(*procs: subprocess.Popen[bytes] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            await asyncio.to_thread(proc.wait)


async def test_run_resumes_from_checkpoint_after_worker_sigkill(api_only, crash_db, crash_pool):
    client = get_client(url=api_only, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    first = start_worker(crash_db)
    second = None
    try:
        run = await client.runs.create(tid, "agent", input=probe_request(("a", 0), ("b", 0), ("c", 3)))
        await wait_for_probe(crash_pool, tid, "c")  # a and b are done; the worker is inside c
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)

        second = start_worker(crash_db)
        result = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), timeout=60)
    finally:
        await stop_workers(first, second)

    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    assert [o["data"]["label"] for o in result["observations"]] == ["a", "b", "c"]
    calls = await probe_rows(crash_pool, tid)
    assert calls.count(("a", "started")) == 1 and calls.count(("a", "finished")) == 1
    assert calls.count(("b", "started")) == 1 and calls.count(("b", "finished")) == 1
    assert calls.count(("c", "started")) == 2, "the step the dead worker was inside runs again"
    assert calls.count(("c", "finished")) == 1
    async with crash_pool.connection() as conn:
        row = await (await conn.execute("SELECT attempt FROM runs WHERE run_id = %s", (run["run_id"],))).fetchone()
    assert row["attempt"] == 2
    state = await client.threads.get_state(tid)
    humans = [m for m in state["values"]["messages"] if m["type"] == "human"]
    assert len(humans) == 1, "the taken-over run continued; it did not feed its input in a second time"
    assert state["values"]["replans"] == 0 and state["values"]["steps"] == 3


async def saved_result(pool: Any, thread_id: str) -> bool:
    """Whether a parallel step's result is in the checkpointer's pending writes (what a resume reuses)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM checkpoint_writes WHERE thread_id = %s AND channel = 'parallel'", (thread_id,)
        )
        return await cur.fetchone() is not None


async def test_a_crash_mid_parallel_steps_runs_again_only_the_unfinished_one(api_only, crash_db, crash_pool):
    """Independent read-only steps run as LangGraph tasks of one super-step, each saved as it finishes: a
    worker killed while one is still running leaves the finished one's result, which the next worker uses."""
    client = get_client(url=api_only, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    ask = " then ".join(
        f"call read_probe with {json.dumps({'label': label, 'seconds': s})}" for label, s in (("quick", 1), ("slow", 4))
    )
    first = start_worker(crash_db)
    second = None
    try:
        run = await client.runs.create(tid, "agent", input={"messages": [{"role": "user", "content": ask}]})
        await wait_for_probe(crash_pool, tid, "quick", "finished")
        await eventually(lambda: saved_result(crash_pool, tid))  # LangGraph has saved quick's task writes
        first.send_signal(signal.SIGKILL)  # while slow, started beside quick, is still running
        await asyncio.to_thread(first.wait)

        second = start_worker(crash_db)
        result = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), timeout=60)
    finally:
        await stop_workers(first, second)

    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    assert [o["data"]["label"] for o in result["observations"]] == ["quick", "slow"], "plan order, not finish order"
    calls = await probe_rows(crash_pool, tid)
    assert calls.index(("slow", "started")) < calls.index(("quick", "finished")), "they ran at the same time"
    assert calls.count(("quick", "started")) == 1, "the finished branch did not run again"
    assert calls.count(("slow", "started")) == 2 and calls.count(("slow", "finished")) == 1
    state = await client.threads.get_state(tid)
    assert state["values"]["steps"] == 2 and state["values"]["parallel"] == []


async def test_a_dead_workers_run_is_taken_over_without_waiting_out_its_lease(api_only, crash_db, crash_pool):
    """The dead worker's liveness lock vanished with its connection: a run under a 120 s lease is taken
    over within a few heartbeats. (Before liveness locks it waited out the lease: this timed out.)"""
    client = get_client(url=api_only, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    first = start_worker(crash_db, lease_s=120)
    second = None
    try:
        run = await client.runs.create(tid, "agent", input=probe_request(("a", 0), ("b", 3)))
        await wait_for_probe(crash_pool, tid, "b")
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)

        second = start_worker(crash_db, lease_s=120)
        # A liveness bound, not a measurement: far below the 120 s lease the old rule needed.
        result = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), timeout=30)
    finally:
        await stop_workers(first, second)

    assert [o["data"]["label"] for o in result["observations"]] == ["a", "b"]
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
