"""A database connection failure in the middle of a run is the infrastructure's fault, not the run's:
a failed event write is tried again, a failed checkpoint write has the run taken over and continued from
its checkpoint, instead of ending in `error`; either way its stream keeps every event, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.helpers import probe_request, probe_rows

# Fault injection, each test bounded to under a minute (the bound).
pytestmark = pytest.mark.timeout(60)

# The trigger fails exactly one event insert of the target thread's runs, with SQLSTATE 08006
# (connection_failure: psycopg raises OperationalError). A sequence counts the attempts because a
# sequence is not rolled back with the failed insert.
FAULT = """
CREATE TABLE IF NOT EXISTS fault_targets (thread_id UUID PRIMARY KEY);
CREATE SEQUENCE IF NOT EXISTS fault_once;
CREATE OR REPLACE FUNCTION fail_one_event() RETURNS trigger AS $$
BEGIN
    IF NEW.event = 'updates' AND NEW.data ? 'execute'
       AND EXISTS (SELECT 1 FROM runs r JOIN fault_targets f USING (thread_id) WHERE r.run_id = NEW.run_id)
       AND nextval('fault_once') = 1 THEN
        RAISE EXCEPTION 'injected: connection to the database was lost' USING ERRCODE = '08006';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS fail_one_event ON run_events;
CREATE TRIGGER fail_one_event BEFORE INSERT ON run_events FOR EACH ROW EXECUTE FUNCTION fail_one_event();
"""


# The same for the checkpoint written after the first `reflect` (step 3): the graph's own write fails.
CHECKPOINT_FAULT = """
CREATE TABLE IF NOT EXISTS fault_targets (thread_id UUID PRIMARY KEY);
CREATE SEQUENCE IF NOT EXISTS fault_once;
CREATE OR REPLACE FUNCTION fail_one_checkpoint() RETURNS trigger AS $$
BEGIN
    IF NEW.metadata->>'step' = '3' AND NEW.checkpoint_ns = ''
       AND EXISTS (SELECT 1 FROM fault_targets WHERE thread_id::text = NEW.thread_id)
       AND nextval('fault_once') = 1 THEN
        RAISE EXCEPTION 'injected: connection to the database was lost' USING ERRCODE = '08006';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS fail_one_checkpoint ON checkpoints;
CREATE TRIGGER fail_one_checkpoint BEFORE INSERT ON checkpoints FOR EACH ROW EXECUTE FUNCTION fail_one_checkpoint();
"""


async def _installed(pool: Any, fault: str, table: str, trigger: str) -> AsyncIterator[None]:
    async with pool.connection() as conn:
        await conn.execute(fault)
    try:
        yield
    finally:
        async with pool.connection() as conn:
            await conn.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            await conn.execute("DROP TABLE fault_targets")
            await conn.execute("DROP SEQUENCE fault_once")


@pytest.fixture
async def one_fault(pool: Any) -> AsyncIterator[None]:
    async for _ in _installed(pool, FAULT, "run_events", "fail_one_event"):
        yield


@pytest.fixture
async def one_checkpoint_fault(pool: Any) -> AsyncIterator[None]:
    async for _ in _installed(pool, CHECKPOINT_FAULT, "checkpoints", "fail_one_checkpoint"):
        yield


def shape(parts: list[Any]) -> list[str]:
    """Each streamed event as `updates:<node>` or its name: what must be there once per super-step."""
    return [f"updates:{next(iter(p.data))}" if p.event == "updates" else p.event for p in parts]


async def seqs(pool: Any, run_id: str) -> list[int]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT seq FROM run_events WHERE run_id = %s ORDER BY seq", (run_id,))
        ).fetchall()
    return [r["seq"] for r in rows]


async def streamed_shape(client: Any, request: dict[str, Any], tid: str | None = None) -> tuple[str, str, list[str]]:
    """(thread, run, the shape of its whole stream read back from the start) of a finished run."""
    tid = tid or (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        tid, "agent", input=request, stream_mode=["values", "updates"], stream_resumable=True
    )
    await client.runs.join(tid, run["run_id"])
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"], last_event_id="0")]
    return tid, run["run_id"], shape(parts)


@pytest.mark.slow
async def test_a_lost_database_connection_mid_run_is_retried_from_the_checkpoint(alice, pool, one_checkpoint_fault):
    request = probe_request(("a", 0), ("b", 0))
    _, _, expected = await streamed_shape(alice, request)
    tid = (await alice.threads.create())["thread_id"]
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO fault_targets VALUES (%s)", (tid,))

    _, run_id, got = await streamed_shape(alice, request, tid)

    assert (await alice.runs.get(tid, run_id))["status"] == "success"
    result = await alice.runs.join(tid, run_id)
    assert [o["data"]["label"] for o in result["observations"]] == ["a", "b"]
    assert await probe_rows(pool, tid) == [("a", "started"), ("a", "finished"), ("b", "started"), ("b", "finished")]
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT attempt, nextval('fault_once') AS n FROM runs WHERE run_id = %s", (run_id,))
        ).fetchone()
    assert row["n"] > 2, "the fault fired (and later inserts passed it)"
    assert row["attempt"] == 2, "a second attempt continued the run"
    assert got == expected, "the stream has every event of every super-step, once"
    assert await seqs(pool, run_id) == list(range(1, len(got) + 1))  # metadata is not stored; the end marker is


@pytest.mark.slow
async def test_a_failed_event_write_is_tried_again_and_the_run_goes_on_with_every_event(alice, pool, one_fault):
    request = probe_request(("a", 0), ("b", 0))
    _, _, expected = await streamed_shape(alice, request)
    tid = (await alice.threads.create())["thread_id"]
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO fault_targets VALUES (%s)", (tid,))

    _, run_id, got = await streamed_shape(alice, request, tid)

    assert got == expected
    assert await seqs(pool, run_id) == list(range(1, len(got) + 1))
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT attempt, nextval('fault_once') AS n FROM runs WHERE run_id = %s", (run_id,))
        ).fetchone()
    assert row["n"] > 2, "the fault fired"
    assert row["attempt"] == 1, "the run was not interrupted"
