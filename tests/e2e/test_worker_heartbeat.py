"""A worker's heartbeat must never take a healthy run for a lost one.

The heartbeat extends the leases of the runs the worker holds and cancels those whose lease another
worker took. Runs claimed while a heartbeat's UPDATE is in flight are not in its answer; judging them
by it cancelled healthy runs as `lease_lost`, which then stalled until their lease ran out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from langgraph_sdk import get_client

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow
RUNS = 40


@pytest.fixture(scope="module")
async def busy_worker() -> AsyncIterator[tuple[str, str]]:
    """Heartbeats back to back, so claims keep landing while one is in flight."""
    with fresh_database("handrail_heartbeat") as dsn:
        settings = e2e_settings(dsn, workers=4, heartbeat_s=0.001, worker_poll_s=0.05, run_lease_s=30.0)
        async with serving(create_app(settings), port=settings.port) as url:
            yield url, dsn


async def test_runs_claimed_during_a_heartbeat_are_never_cancelled_as_lost(busy_worker):
    url, dsn = busy_worker
    client = get_client(url=url, api_key=KEYS["alice"])
    threads = [(await client.threads.create())["thread_id"] for _ in range(RUNS)]

    runs = await asyncio.gather(*(client.runs.create(t, "agent", input=user("what is 6*7")) for t in threads))

    async def all_finished() -> list[dict[str, Any]] | None:
        found = [await client.runs.get(r["thread_id"], r["run_id"]) for r in runs]
        return found if all(r["status"] not in ("pending", "running") for r in found) else None

    # The lease is 30 s: a run cancelled as lost would only finish after it, so 25 s is a clear verdict.
    finished = await eventually(all_finished, within_s=25)
    with psycopg.connect(dsn) as conn:
        attempts = [row[0] for row in conn.execute("SELECT attempt FROM runs WHERE status <> 'pending'")]

    assert {r["status"] for r in finished} == {"success"}
    assert attempts == [1] * RUNS, "every run finished on its first claim"
