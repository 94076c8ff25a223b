"""Per-tool kill switches (table `tool_switches`): an operator turns a tool off on every replica at once.

Each process keeps the whole (small) table in memory and re-reads it with one SELECT at most every
TOOL_SWITCH_REFRESH_S, when a call asks and the copy is older than that; concurrent askers share that one
read. A change made through this process's API reloads at once; other processes see it within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from pydantic import BaseModel, Field

from guardrails.audit_event import KILL_SWITCH, AuditEvent
from handrail import audit
from handrail.db import Pool
from handrail.errors import first_line
from handrail.wire import Timestamp

logger = logging.getLogger("handrail.tool_switches")

# How long a call waits for a re-read before it uses what it knew: a pool that cannot connect would
# otherwise hold every tool call for the pool's whole timeout.
READ_WAIT_S = 2.0

_COLUMNS = "tool, enabled, reason, changed_by, changed_at"


class ToolSwitches:
    """What execute asks before a tool runs: `disabled(tool)` is None, or the observation the model reads."""

    def __init__(
        self,
        pool: Pool,
        *,
        refresh_s: float,
        read_wait_s: float = READ_WAIT_S,
        on_refusal: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._refresh_s = refresh_s
        self._read_wait_s = read_wait_s
        self._on_refusal = on_refusal
        self._clock = clock
        self._rows: dict[str, dict[str, Any]] | None = None  # None: never read
        self._checked_at: float | None = None  # when the last read (good or failed) ended
        self._reading: asyncio.Task[None] | None = None
        self._started = 0  # reads begun; a read older than the applied one is dropped
        self._applied = 0

    async def disabled(self, tool: str) -> str | None:
        """None when `tool` may run; otherwise why not, written for the model (the call is not made)."""
        if self._checked_at is None or self._clock() - self._checked_at >= self._refresh_s:
            await self._refresh_shared()
        if self._rows is None:
            # Never read: nothing says the tool is on, so it stays off (fail closed) until a read succeeds.
            reason = f"{tool} was not run: the operators' tool switches could not be read; try again shortly"
        else:
            row = self._rows.get(tool)
            if row is None or row["enabled"]:
                return None
            why = row["reason"] or "no reason given"
            reason = f"{tool} is switched off by an operator (reason: {why}); it was not run"
        if self._on_refusal is not None:
            self._on_refusal(tool)
        return reason

    async def refresh(self) -> None:
        """Read the table now (at start-up, and after this process changed a switch); raises if it cannot."""
        await self._read()

    async def close(self) -> None:
        """Stop a read under way (at shutdown, before the pool closes)."""
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)

    async def _refresh_shared(self) -> None:
        # When Postgres cannot be read, the last state read stays in force (logged), rather than turning
        # every tool off or on: a switch lives in Postgres, so no operator can have changed it while Postgres
        # is unreachable, and the only change we can miss is one made in the last interval before the outage.
        # Turning every tool off would add nothing then, since a run cannot checkpoint without Postgres anyway.
        if self._reading is None:
            self._reading = asyncio.create_task(self._read(), name="tool-switches.read")
            self._reading.add_done_callback(self._read_ended)
        try:
            async with asyncio.timeout(self._read_wait_s):
                await asyncio.shield(self._reading)
        except (psycopg.Error, TimeoutError) as exc:
            # Logged once per failed read, in _read_ended; a timed-out wait leaves the read running.
            logger.debug("tool_switches.using_last_known", extra={"error": type(exc).__name__})

    def _read_ended(self, task: asyncio.Task[None]) -> None:
        self._reading = None
        self._checked_at = self._clock()  # a failed read is retried after an interval too, not on every call
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning(
                "tool_switches.read_failed",
                extra={"error": first_line(exc), "kept": "last known state" if self._rows is not None else "none"},
                exc_info=exc,
            )

    async def _read(self) -> None:
        self._started += 1
        number = self._started
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(f"SELECT {_COLUMNS} FROM tool_switches")).fetchall()
        if number > self._applied:  # a slower, older read must not undo a newer one
            self._applied = number
            self._rows = {r["tool"]: r for r in rows}
            self._checked_at = self._clock()


async def all_switches(pool: Pool) -> dict[str, dict[str, Any]]:
    """Every recorded switch, read now (the admin listing must not show a cached state)."""
    async with pool.connection() as conn:
        rows = await (await conn.execute(f"SELECT {_COLUMNS} FROM tool_switches")).fetchall()
    return {r["tool"]: r for r in rows}


async def set_switch(pool: Pool, tool: str, *, enabled: bool, reason: str | None, changed_by: str) -> dict[str, Any]:
    """Turn a tool on or off and write the `kill_switch` audit row, in one transaction."""
    async with pool.connection() as conn, conn.transaction():
        row = await _upsert(conn, tool, enabled=enabled, reason=reason, changed_by=changed_by)
        await audit.record(
            conn,
            AuditEvent(
                kind=KILL_SWITCH,
                actor=changed_by,
                tool=tool,
                outcome="enabled" if enabled else "disabled",
                detail={"reason": reason},
            ),
        )
    return row


async def _upsert(
    conn: AsyncConnection[DictRow], tool: str, *, enabled: bool, reason: str | None, changed_by: str
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"INSERT INTO tool_switches (tool, enabled, reason, changed_by, changed_at) "
            f"VALUES (%s, %s, %s, %s, now()) ON CONFLICT (tool) DO UPDATE SET enabled = excluded.enabled, "
            f"reason = excluded.reason, changed_by = excluded.changed_by, changed_at = excluded.changed_at "
            f"RETURNING {_COLUMNS}",
            (tool, enabled, reason, changed_by),
        )
    ).fetchone()
    assert row is not None  # an upsert always returns its row
    return row


class SwitchState(BaseModel):
    """A tool's kill switch as the API shows it; a tool nobody switched is enabled."""

    enabled: bool
    reason: str | None = Field(description="Why it was switched, as the model is told.")
    changed_by: str | None
    changed_at: Timestamp | None

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> SwitchState:
        if row is None:
            return cls(enabled=True, reason=None, changed_by=None, changed_at=None)
        return cls(**{k: row[k] for k in cls.model_fields})
