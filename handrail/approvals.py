"""Approval records: written when a run pauses before a sensitive tool, decided exactly once.

A decision arrives either here (POST /approvals/{id}) or as `command.resume` on the runs API; both
go through `decide`, whose conditional UPDATE lets only the first decision win.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound

logger = logging.getLogger("handrail.approvals")

_COLUMNS = (
    "approval_id, thread_id, run_id, user_id, interrupt_id, tool, args, preview, risk, purpose, requested_by, "
    "status, decision, decided_by, reason, resume_run_id, created_at, expires_at, decided_at, notified_at"
)
_STATUS_OF = {"approve": "approved", "edit": "edited", "reject": "rejected"}


def approval_json(row: dict[str, Any]) -> dict[str, Any]:
    body = {
        k: row[k]
        for k in (
            "approval_id",
            "user_id",
            "interrupt_id",
            "tool",
            "args",
            "preview",
            "risk",
            "purpose",
            "requested_by",
            "status",
            "decision",
            "decided_by",
            "reason",
        )
    }
    body |= {k: str(row[k]) if row[k] is not None else None for k in ("thread_id", "run_id", "resume_run_id")}
    body |= {
        k: row[k].isoformat() if row[k] is not None else None
        for k in ("created_at", "expires_at", "decided_at", "notified_at")
    }
    return body


def approval_requests(interrupts: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(interrupt id, payload) of every pending interrupt that is an approval request."""
    return [
        (i["id"], i["value"])
        for i in interrupts
        if isinstance(i.get("value"), dict) and i["value"].get("type") == "approval_request"
    ]


async def record(
    pool: Pool,
    *,
    thread_id: str,
    run_id: str,
    user_id: str,
    interrupt_id: str,
    payload: dict[str, Any],
    ttl_s: float,
) -> dict[str, Any] | None:
    """Write the approval for a paused call; None when it was already recorded (a replayed run)."""
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"INSERT INTO approvals (approval_id, thread_id, run_id, user_id, interrupt_id, tool, args, preview, "
                f"risk, purpose, requested_by, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                f"now() + make_interval(secs => %s)) ON CONFLICT (approval_id) DO NOTHING RETURNING {_COLUMNS}",
                (
                    payload["approval_id"],
                    thread_id,
                    run_id,
                    user_id,
                    interrupt_id,
                    payload["tool"],
                    Jsonb(payload["args"]),
                    payload["preview"],
                    payload["risk"],
                    payload.get("purpose"),
                    user_id,
                    ttl_s,
                ),
            )
        ).fetchone()


async def get(pool: Pool, principal: Principal, approval_id: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = %s", (approval_id,))
        ).fetchone()
    if row is None or not principal.owns(row["user_id"]):
        raise NotFound(f"approval {approval_id} not found")
    return row


async def pending_for_thread(conn: AsyncConnection[DictRow], thread_id: Any) -> dict[str, Any] | None:
    return await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE thread_id = %s AND status = 'pending' ORDER BY created_at DESC "
            f"LIMIT 1 FOR UPDATE",
            (thread_id,),
        )
    ).fetchone()


async def search(
    pool: Pool,
    principal: Principal,
    *,
    status: str | None,
    thread_id: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    where, params = ["TRUE"], []
    if not principal.is_admin:
        where.append("user_id = %s")
        params.append(principal.user_id)
    if status:
        where.append("status = %s")
        params.append(status)
    if thread_id:
        where.append("thread_id::text = %s")
        params.append(thread_id)
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE {' AND '.join(where)} ORDER BY created_at DESC "
                f"LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
        ).fetchall()


async def decide(
    conn: AsyncConnection[DictRow],
    approval_id: str,
    review: dict[str, Any],
    *,
    decided_by: str,
    reason: str | None = None,
    expired: bool = False,
) -> dict[str, Any]:
    """Record the decision if none was recorded yet; 409 otherwise. Runs inside the caller's transaction."""
    status = "expired" if expired else _STATUS_OF[review["decision"]]
    row = await (
        await conn.execute(
            f"UPDATE approvals SET status = %s, decision = %s, decided_by = %s, reason = %s, decided_at = now() "
            f"WHERE approval_id = %s AND status = 'pending' RETURNING {_COLUMNS}",
            (status, Jsonb(review), decided_by, reason, approval_id),
        )
    ).fetchone()
    if row is None:
        current = await (
            await conn.execute("SELECT status FROM approvals WHERE approval_id = %s", (approval_id,))
        ).fetchone()
        if current is None:
            raise NotFound(f"approval {approval_id} not found")
        raise Conflict(f"approval {approval_id} was already decided ({current['status']}); a decision applies once")
    return row


async def link_resume_run(conn: AsyncConnection[DictRow], approval_id: str, run_id: Any) -> None:
    await conn.execute("UPDATE approvals SET resume_run_id = %s WHERE approval_id = %s", (run_id, approval_id))


async def claim_unnotified(pool: Pool, stale_after_s: float, limit: int = 20) -> list[dict[str, Any]]:
    """Pending approvals whose notification never arrived and is not being sent right now; claimed
    (attempt time stamped) so that two workers do not both send it."""
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"UPDATE approvals SET notify_attempted_at = now() WHERE approval_id IN ("
                f" SELECT approval_id FROM approvals WHERE status = 'pending' AND notified_at IS NULL"
                f" AND (notify_attempted_at IS NULL OR notify_attempted_at < now() - make_interval(secs => %s))"
                f" ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}",
                (stale_after_s, limit),
            )
        ).fetchall()


async def mark_notified(pool: Pool, approval_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE approvals SET notified_at = now() WHERE approval_id = %s", (approval_id,))


async def expired(pool: Pool, limit: int = 50) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE status = 'pending' AND expires_at < now() "
                f"ORDER BY expires_at LIMIT %s",
                (limit,),
            )
        ).fetchall()
