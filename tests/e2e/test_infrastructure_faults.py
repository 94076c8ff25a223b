"""A database connection failure in the middle of a run is the infrastructure's fault, not the run's:
the run is taken over and continues from its checkpoint instead of ending in `error`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.helpers import probe_request, probe_rows

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


@pytest.fixture
async def one_fault(pool: Any) -> AsyncIterator[None]:
    async with pool.connection() as conn:
        await conn.execute(FAULT)
    try:
        yield
    finally:
        async with pool.connection() as conn:
            await conn.execute("DROP TRIGGER IF EXISTS fail_one_event ON run_events")
            await conn.execute("DROP TABLE fault_targets")
            await conn.execute("DROP SEQUENCE fault_once")


@pytest.mark.slow
async def test_a_lost_database_connection_mid_run_is_retried_from_the_checkpoint(alice, pool, one_fault):
    tid = (await alice.threads.create())["thread_id"]
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO fault_targets VALUES (%s)", (tid,))

    run = await alice.runs.create(tid, "agent", input=probe_request(("a", 0), ("b", 0)), stream_mode=["updates"])
    result = await alice.runs.join(tid, run["run_id"])

    assert (await alice.runs.get(tid, run["run_id"]))["status"] == "success"
    assert [o["data"]["label"] for o in result["observations"]] == ["a", "b"]
    assert await probe_rows(pool, tid) == [("a", "started"), ("a", "finished"), ("b", "started"), ("b", "finished")]
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT attempt, nextval('fault_once') AS n FROM runs WHERE run_id = %s", (run["run_id"],)
            )
        ).fetchone()
    assert row["n"] > 2, "the fault fired (and later inserts passed it)"
    assert row["attempt"] == 2, "a second attempt continued the run"
