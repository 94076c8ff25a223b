"""Records a run's stream events off the graph's path, in order, several to a statement.

Writing each event before asking the graph for the next one put a round trip per event (a dozen per
run) between the run's steps. Here the graph's loop only queues events; one task per run writes what
has queued up since its last write in one INSERT, which also nudges the run's readers once (on the
Postgres bus). Sequence numbers are still given by the database, so readers see the same order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg.types.json import Jsonb

from handrail.db import Pool
from handrail.runs.events import VALUES

# base_seq of a `values` delta: the previous `values` event, either in the same batch (base_ord, its
# position) or written before (base_abs).
_INSERT = """
WITH top AS (SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = %s),
added AS (
    INSERT INTO run_events (run_id, seq, event, data, base_seq)
    SELECT %s, top.seq + e.ord, e.event, e.data, coalesce(top.seq + e.base_ord, e.base_abs)
    FROM top, (VALUES {rows}) AS e(ord, event, data, base_ord, base_abs)
    RETURNING seq
)
"""
# Scalar parameters, typed in the first row: psycopg dumps Python lists as arrays slowly.
_FIRST_ROW = "(%s::int, %s::text, %s::jsonb, %s::int, %s::int)"
_ROW = "(%s, %s, %s, %s, %s)"


class EventWriter:
    """One run's event log writer. `add` never waits; `close` waits until everything is written and
    raises what went wrong, if anything did."""

    def __init__(
        self,
        pool: Pool,
        run_id: uuid.UUID,
        *,
        notify: tuple[str, str] | None,
        publish: Callable[[], Awaitable[None]],
    ) -> None:
        self._pool, self._run_id = pool, run_id
        self._notify, self._publish = notify, publish
        self._queued: list[tuple[str, Any, bool]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.last_values_seq: int | None = None
        self._task = asyncio.create_task(self._drain(), name=f"events-{run_id}")

    def add(self, event: str, data: Any, *, delta: bool = False) -> None:
        """Queue an event; `delta`: a `values` event stored against the previous `values` event."""
        if self._task.done():
            self._task.result()  # the writer failed: the run learns it now, not at its end
        self._queued.append((event, data, delta))
        self._wake.set()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queued:
                batch, self._queued = self._queued, []
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[tuple[str, Any, bool]]) -> None:
        rows = ", ".join([_FIRST_ROW] + [_ROW] * (len(batch) - 1))
        sql = _INSERT.format(rows=rows) + "SELECT array_agg(seq ORDER BY seq) AS seqs"
        params: list[Any] = [self._run_id, self._run_id]
        last_values: int | None = None  # 1-based position in this batch
        for position, (event, data, delta) in enumerate(batch, start=1):
            base_ord = last_values if delta and last_values is not None else None
            base_abs = self.last_values_seq if delta and last_values is None else None
            params += [position, event, Jsonb(data), base_ord, base_abs]
            if event == VALUES:
                last_values = position
        if self._notify is not None:
            sql += ", pg_notify(%s, %s)"
            params += [self._notify[0], self._notify[1]]
        async with self._pool.connection() as conn:
            row = await (await conn.execute(sql + " FROM added", params)).fetchone()
        seqs = row["seqs"] if row else None
        if seqs and last_values is not None:
            self.last_values_seq = seqs[last_values - 1]
        if self._notify is None:
            await self._publish()
