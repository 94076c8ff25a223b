"""Compaction keeps an older run's whole-state event as the change back from the newer run's: every
kind of change must read back exactly (appended, replaced, emptied, dropped and new keys, JSON nulls)."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from handrail.runs import event_log

OLDER = {
    "messages": [{"id": "a", "content": "hi"}, {"id": "b", "content": "hello"}],
    "plan": [{"tool": "calculator"}],
    "final_answer": None,
    "gone_later": 1,
    "empty": [],
    "same": {"k": [1, 2]},
}
NEWER = {
    "messages": [{"id": "a", "content": "hi"}, {"id": "b", "content": "hello"}, {"id": "c", "content": "new"}],
    "plan": [{"tool": "get_time"}],
    "final_answer": "4",
    "new_key": 2,
    "empty": [{"id": "z"}],
    "same": {"k": [1, 2]},
}


async def add_run(conn, thread_id: uuid.UUID, first_values: dict) -> uuid.UUID:
    run_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, user_id, status, created_at) "
        "VALUES (%s, %s, %s, 'u', 'success', clock_timestamp())",
        (run_id, thread_id, uuid.uuid4()),
    )
    await conn.execute(
        "INSERT INTO run_events (run_id, seq, event, data) VALUES (%s, 1, 'values', %s)", (run_id, Jsonb(first_values))
    )
    return run_id


async def test_an_older_runs_state_reads_back_exactly_after_compaction(pool):
    thread_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO threads (thread_id, user_id) VALUES (%s, 'u')", (thread_id,))
        older = await add_run(conn, thread_id, OLDER)
        newer = await add_run(conn, thread_id, NEWER)

    assert await event_log.compact_previous_keyframe(pool, thread_id, newer)

    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT data, base_run, base_seq FROM run_events WHERE run_id = %s", (older,))
        ).fetchone()
        assert row["base_run"] == newer and row["base_seq"] == 1
        assert row["data"] == {
            "truncate": {"messages": 2, "empty": 0},
            "set": {"plan": OLDER["plan"], "final_answer": None, "gone_later": 1},
            "drop": ["new_key"],
        }
        assert await event_log.values_at(conn, older, 1) == OLDER
        assert await event_log.values_at(conn, newer, 1) == NEWER
    assert not await event_log.compact_previous_keyframe(pool, thread_id, newer), "done once"
