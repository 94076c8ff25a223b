"""What the records a person acts on (approvals, handoffs) share: a search scoped to the caller's own rows
(an admin sees all), and the claim on a notification that never arrived, so that exactly one worker
sends it again. Table and column names come from the calling module's constants, never from a request."""

from __future__ import annotations

from typing import Any

from handrail.auth import Principal
from handrail.db import Pool


def requests_of(interrupts: list[dict[str, Any]], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(interrupt id, payload) of every pending interrupt whose payload is of `kind` (its `type`)."""
    return [
        (i["id"], i["value"]) for i in interrupts if isinstance(i.get("value"), dict) and i["value"].get("type") == kind
    ]


async def owned_search(
    pool: Pool,
    principal: Principal,
    *,
    table: str,
    columns: str,
    status: str | None,
    thread_id: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The caller's rows (every row for an admin), newest first, filtered by status and thread."""
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
                f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} ORDER BY created_at DESC "
                f"LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
        ).fetchall()


async def claim_unnotified(
    pool: Pool, *, table: str, key: str, columns: str, status: str, stale_after_s: float, limit: int
) -> list[dict[str, Any]]:
    """Rows still in `status` whose notification never arrived and is not being sent now (its last attempt
    is older than `stale_after_s`), claimed by stamping the attempt so two workers do not both send it."""
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"UPDATE {table} SET notify_attempted_at = now() WHERE {key} IN ("
                f" SELECT {key} FROM {table} WHERE status = %s AND notified_at IS NULL"
                f" AND (notify_attempted_at IS NULL OR notify_attempted_at < now() - make_interval(secs => %s))"
                f" ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {columns}",
                (status, stale_after_s, limit),
            )
        ).fetchall()


async def mark_notified(pool: Pool, *, table: str, key: str, value: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(f"UPDATE {table} SET notified_at = now() WHERE {key} = %s", (value,))
