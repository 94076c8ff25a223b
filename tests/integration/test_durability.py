"""State survives the process; migrations are idempotent and safe under concurrent starts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from handrail.db import make_pool
from handrail.migrate import load_migrations, migrate
from tests.support.db import fresh_database

ROOT = Path(__file__).resolve().parents[2]


def run_child(dsn: str, thread_id: str, action: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.child_agent", dsn, thread_id, action],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
async def test_a_paused_thread_is_resumed_by_a_new_process(pool, database_url):
    thread_id = f"restart-{uuid.uuid4()}"
    started = await asyncio.to_thread(run_child, database_url, thread_id, "start")
    assert started["interrupts"][0]["tool"] == "send_email"
    assert started["final_answer"] is None

    finished = await asyncio.to_thread(run_child, database_url, thread_id, "approve")
    assert finished["interrupts"] == []
    assert "alice@example.com" in finished["final_answer"]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM outbox WHERE thread_id = %s", (thread_id,))
        assert (await cur.fetchone())["n"] == 1


async def test_migrations_apply_once_and_a_second_run_changes_nothing():
    with fresh_database("handrail_migrate") as dsn:
        pool = make_pool(dsn, max_size=4)
        await pool.open(wait=True)
        try:
            first = await migrate(pool)
            second = await migrate(pool)
            async with pool.connection() as conn:
                rows = await (await conn.execute("SELECT version FROM handrail_migrations ORDER BY 1")).fetchall()
                tables = await (
                    await conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
                ).fetchall()
        finally:
            await pool.close()
    assert first == [m.name for m in load_migrations()]
    assert second == []
    assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    names = {t["table_name"] for t in tables}
    assert {"tickets", "outbox", "checkpoints", "checkpoint_writes", "store"} <= names


async def test_concurrent_starts_migrate_exactly_once():
    with fresh_database("handrail_migrate") as dsn:
        pools = [make_pool(dsn, max_size=2) for _ in range(3)]
        for p in pools:
            await p.open(wait=True)
        try:
            results = await asyncio.gather(*(migrate(p) for p in pools))
        finally:
            for p in pools:
                await p.close()
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in load_migrations()), "each migration applied by exactly one"
