"""HandrailSaver stores pending writes exactly as LangGraph's stock saver does, in one statement:
the same rows for ordinary and special channels, duplicates resolved the same way, read back the same."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.checkpoint.base import ERROR, INTERRUPT, RESUME, empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from handrail.saver import HandrailSaver

WRITE_BATCHES: list[list[tuple[str, Any]]] = [
    [("messages", [{"role": "user", "content": "hi"}]), ("cursor", 1), ("plan", [{"tool": "calculator"}])],
    [("observations", []), ("observations", [1])],  # an ordinary channel twice: both kept, at their own idx
    [(INTERRUPT, {"value": "first"}), (INTERRUPT, {"value": "second"})],  # special, same idx: the last wins
    [(RESUME, {"decision": "approve"})],
    [(ERROR, "boom")],
]


async def stored(pool: Any, saver: AsyncPostgresSaver) -> tuple[list[tuple[Any, ...]], Any]:
    thread = f"saver-{uuid.uuid4()}"
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    config = await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})  # type: ignore[arg-type]
    for n, writes in enumerate(WRITE_BATCHES):
        await saver.aput_writes(config, writes, task_id=f"task-{n}", task_path=f"path-{n}")
        await saver.aput_writes(config, writes, task_id=f"task-{n}", task_path=f"path-{n}")  # replayed
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT task_id, task_path, idx, channel, type, blob FROM checkpoint_writes "
                "WHERE thread_id = %s ORDER BY task_id, idx",
                (thread,),
            )
        ).fetchall()
    found = await saver.aget_tuple(config)
    assert found is not None
    return [tuple(r.values()) for r in rows], found.pending_writes


async def test_pending_writes_match_the_stock_saver_row_for_row(pool):
    mine_rows, mine_pending = await stored(pool, HandrailSaver(pool))
    stock_rows, stock_pending = await stored(pool, AsyncPostgresSaver(pool))

    assert mine_rows == stock_rows
    assert mine_pending == stock_pending
    assert ("task-2", INTERRUPT, {"value": "second"}) in mine_pending
