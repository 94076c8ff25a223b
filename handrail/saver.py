"""Handrail's checkpointer: LangGraph's Postgres saver on the same tables, with fewer round trips.

The stock saver writes a task's pending writes with `executemany`, one INSERT per write: 42 of the 108
statements of a two-tool run (bench/statements.py). Here they go in one INSERT over `unnest` arrays,
with the same conflict rules, so what is stored (and how LangGraph reads it back) does not change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import WRITES_IDX_MAP
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

_COLUMNS = "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob"
_ROWS = (
    f"INSERT INTO checkpoint_writes ({_COLUMNS}) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[], %s::text[], "
    "%s::text[], %s::bytea[]) "
    "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) "
)
# As the stock saver: writes to special channels (errors, interrupts, resumes) replace an earlier one
# at the same index; ordinary writes are recorded once.
UPSERT_WRITES = _ROWS + "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
INSERT_WRITES = _ROWS + "DO NOTHING"


class HandrailSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver whose `aput_writes` is one statement per task instead of one per write."""

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if not writes:
            return
        upsert = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        conf = config["configurable"]
        rows = await asyncio.to_thread(
            self._dump_writes,
            conf["thread_id"],
            conf["checkpoint_ns"],
            conf["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        # executemany applied rows in order, so a later row for the same index won (upsert) or lost (insert);
        # one statement may not touch a row twice, so keep the row that would have prevailed.
        by_idx: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            if upsert or row[5] not in by_idx:
                by_idx[row[5]] = row
        columns = [list(column) for column in zip(*by_idx.values(), strict=True)]
        async with self._cursor() as cur:
            await cur.execute(UPSERT_WRITES if upsert else INSERT_WRITES, columns)
