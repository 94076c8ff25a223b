"""The live feed of approval changes (GET /approvals/stream): an approval created when a run pauses, and the same
approval once decided (approved, edited, rejected, expired), for the approvals the caller may see.

The bus carries the nudge (topic `approvals`, sent after the write commits); the approvals table is the fact. Each
wake-up, and every POLL_S without one (a lost nudge costs latency, never a change), re-reads what changed since the
last read minus OVERLAP_S: a row becomes visible at commit, after the `now()` it carries, so a strict cursor could
skip it. What was already sent (an id at a status) is not sent again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from handrail.approvals import Approval
from handrail.auth import Principal
from handrail.db import Pool
from handrail.runs.repo import db_now
from handrail.serialize import dumps_json
from handrail.services import Services

TOPIC = "approvals"
POLL_S = 2.0
OVERLAP_S = 5.0
HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream

_COLUMNS = ", ".join(Approval.model_fields)


class ApprovalChange(BaseModel):
    """One `approval` event of the feed."""

    change: Literal["created", "decided"] = Field(
        description="`created`: it waits for a decision; `decided`: it no longer does (see `approval.status`)."
    )
    approval: Approval


class FeedReady(BaseModel):
    """The feed's first event (`metadata`): from here on no change is missed, so a client that lists the pending
    approvals after receiving it has a complete picture."""

    since: str = Field(description="Changes from this time on (minus a few seconds' overlap) are sent.")


def sse_frame(event: str, data: Any) -> bytes:
    text = dumps_json(data)
    body = text if isinstance(text, bytes) else text.encode()
    return b"event: " + event.encode() + b"\r\ndata: " + body + b"\r\n\r\n"


async def announce(services: Services) -> None:
    """Wake every feed, in every process, after an approval was written (created or decided)."""
    await services.bus.publish(TOPIC)


async def changed_since(pool: Pool, principal: Principal, since: dt.datetime) -> list[dict[str, Any]]:
    """Approvals created or decided at or after `since`, oldest change first, scoped as GET /approvals is: a
    user's own approvals, every user's for an admin."""
    where: list[str] = ["coalesce(decided_at, created_at) >= %s"]  # its last change (approvals_changed_idx)
    params: list[Any] = [since]
    if not principal.is_admin:
        where.append("user_id = %s")
        params.append(principal.user_id)
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE {' AND '.join(where)} "
                f"ORDER BY coalesce(decided_at, created_at), approval_id",
                params,
            )
        ).fetchall()


async def feed(services: Services, principal: Principal) -> AsyncIterator[bytes]:
    """SSE: `metadata` once subscribed, then an `approval` event (ApprovalChange) per change; never ends by itself."""
    overlap = dt.timedelta(seconds=OVERLAP_S)
    loop = asyncio.get_running_loop()
    async with services.bus.subscribe(TOPIC) as sub:
        cursor = await db_now(services.pool)
        yield sse_frame("metadata", FeedReady(since=cursor.isoformat()).model_dump(mode="json"))
        sent: dict[str, tuple[str, dt.datetime]] = {}  # approval id -> (status sent, when it changed)
        quiet_since = loop.time()
        while True:
            read_at = await db_now(services.pool)
            for row in await changed_since(services.pool, principal, cursor - overlap):
                changed_at = row["decided_at"] or row["created_at"]
                if sent.get(row["approval_id"], ("", changed_at))[0] == row["status"]:
                    continue
                sent[row["approval_id"]] = (row["status"], changed_at)
                change = ApprovalChange(
                    change="created" if row["status"] == "pending" else "decided", approval=Approval.from_row(row)
                )
                yield sse_frame("approval", change.model_dump(mode="json"))
                quiet_since = loop.time()
            cursor = read_at
            # What is older than the re-read window cannot come back: forget it.
            sent = {k: v for k, v in sent.items() if v[1] >= cursor - 2 * overlap}
            await sub.wait(POLL_S)
            if loop.time() - quiet_since >= HEARTBEAT_S:
                quiet_since = loop.time()
                yield b": heartbeat\r\n\r\n"
