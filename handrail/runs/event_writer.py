"""Records a run's stream events off the graph's path, in order, several to a statement.

Writing each event before asking the graph for the next one put a round trip per event (a dozen per
run) between the run's steps. Here the graph's loop only queues events; one task per run writes what
has queued up since its last write in one INSERT, which also nudges the run's readers once (on the
Postgres bus).

A write that fails for the infrastructure's sake (a connection killed, Postgres restarting) is tried again
until it lands, for up to `retry_s` (half the run's lease, so never after another worker may have taken the
run over): dropping it lost the events of steps whose checkpoints were already committed, which the run's
next attempt does not emit again. The writer numbers the events itself, from the seq the run's log had
when it started, so a retry of a write that did land (the connection died after the commit) changes
nothing (ON CONFLICT DO NOTHING) instead of writing the events twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import psycopg_pool
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from handrail.db import Pool
from handrail.runs.events import VALUES

logger = logging.getLogger("handrail.runs")

# What a write is retried on: the connection or the server, not the statement.
TRANSIENT: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)

_INSERT = """
WITH added AS (
    INSERT INTO run_events (run_id, seq, event, data, base_seq)
    SELECT %s, e.seq, e.event, e.data, e.base_seq FROM (VALUES {rows}) AS e(seq, event, data, base_seq)
    {on_conflict}
    RETURNING seq
)
SELECT count(*) AS n{notify} FROM added
"""
# Scalar parameters, typed in the first row: psycopg dumps Python lists as arrays slowly.
_FIRST_ROW = "(%s::int, %s::text, %s::jsonb, %s::int)"
_ROW = "(%s, %s, %s, %s)"


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
        start_seq: int = 0,
        retry_s: float = 5.0,
    ) -> None:
        """`start_seq`: the last seq in the run's log before this writer (0 on a run's first attempt)."""
        self._pool, self._run_id = pool, run_id
        self._notify, self._publish = notify, publish
        self._top, self._retry_s = start_seq, retry_s
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
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = 0.05
        retrying = False
        while True:
            sql, params, last_values = self._statement(batch, retrying=retrying)
            try:
                async with self._pool.connection() as conn:
                    row = await (await conn.execute(sql, params)).fetchone()
            except UniqueViolation:
                # The log had events this writer did not know of: number the batch after them.
                self._top = await self._read_top()
                logger.warning("run_events.renumbered", extra={"run_id": str(self._run_id), "after": self._top})
                continue
            except TRANSIENT as exc:
                now = loop.time()
                deadline = deadline if deadline is not None else now + self._retry_s
                if now >= deadline:
                    raise
                logger.warning(
                    "run_events.write_retried",
                    extra={"run_id": str(self._run_id), "events": len(batch), "error": type(exc).__name__},
                )
                retrying = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            break
        written = int(row["n"]) if row else 0
        if written not in (len(batch), 0) or (written == 0 and not retrying):
            raise RuntimeError(f"run {self._run_id}: {len(batch) - written} of {len(batch)} events not written")
        # written == 0 on a retry: the failed attempt had landed after all.
        if last_values is not None:
            self.last_values_seq = self._top + last_values
        self._top += len(batch)
        if self._notify is None:
            await self._publish()

    def _statement(self, batch: list[tuple[str, Any, bool]], *, retrying: bool) -> tuple[str, list[Any], int | None]:
        """The INSERT of `batch` numbered after the writer's top, and the position of its last `values` event.
        A delta's base is the previous `values` event, in this batch or written before."""
        rows = ", ".join([_FIRST_ROW] + [_ROW] * (len(batch) - 1))
        params: list[Any] = [self._run_id]
        last_values: int | None = None  # 1-based position in this batch
        for position, (event, data, delta) in enumerate(batch, start=1):
            base = None
            if delta:
                base = self._top + last_values if last_values is not None else self.last_values_seq
            params += [self._top + position, event, Jsonb(data), base]
            if event == VALUES:
                last_values = position
        notify = ""
        if self._notify is not None:
            notify = ", pg_notify(%s, %s)"
            params += [self._notify[0], self._notify[1]]
        on_conflict = "ON CONFLICT (run_id, seq) DO NOTHING" if retrying else ""
        return _INSERT.format(rows=rows, on_conflict=on_conflict, notify=notify), params, last_values

    async def _read_top(self) -> int:
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = %s", (self._run_id,)
                )
            ).fetchone()
        return int(row["seq"]) if row else 0
