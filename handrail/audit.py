"""The audit log: an append-only record of tool calls, approvals, guardrail blocks, budget stops and kill-switch
changes (table `audit_log`, migration 0009), written with the change it records and read by GET /audit.

Arguments are stored redacted (handrail.logs.redact); the digest of the unredacted call (tools.gate.call_digest)
is what ties an approval to the call that ran. Pages are oldest first by `id`, so the cursor doubles as a tail:
`after=<the last id seen>` returns what was recorded since. A row becomes visible when its transaction commits,
and ids are taken before that, so a tail that must not miss a row re-reads a few seconds behind its cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from guardrails.audit_event import AuditEvent
from handrail.db import Pool
from handrail.errors import Unprocessable
from handrail.logs import redact
from handrail.wire import Timestamp

__all__ = ["AuditEvent", "AuditFilter", "AuditRecord", "PostgresAudit", "record", "search"]

DEFAULT_LIMIT = 100

_INSERT = (
    "INSERT INTO audit_log (actor, kind, thread_id, run_id, tool, args, digest, outcome, detail) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_COLUMNS = "id, at, actor, kind, thread_id, run_id, tool, args, digest, outcome, detail"


async def record(target: Pool | AsyncConnection[DictRow], event: AuditEvent) -> None:
    """Write one audit row. Given a connection, the row joins that connection's transaction, so it is
    committed (or rolled back) with the change it records."""
    params = _params(event)
    if isinstance(target, AsyncConnection):
        await target.execute(_INSERT, params)
        return
    async with target.connection() as conn:
        await conn.execute(_INSERT, params)


class PostgresAudit:
    """The service's audit sink (graph.context's AuditSink): each event is one INSERT on the pool.
    A failed write raises (psycopg.Error); what a missing audit row should stop is the caller's call."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def record(self, event: AuditEvent) -> None:
        await record(self._pool, event)


def _params(event: AuditEvent) -> tuple[Any, ...]:
    detail = dict(event.detail)
    # A thread or run id that is not the service's own (an in-process graph's "t-1") stays readable in
    # `detail` rather than failing the write.
    thread_id, run_id = _uuid(event.thread_id), _uuid(event.run_id)
    if event.thread_id is not None and thread_id is None:
        detail.setdefault("thread_id", event.thread_id)
    if event.run_id is not None and run_id is None:
        detail.setdefault("run_id", event.run_id)
    return (
        event.actor,
        event.kind,
        thread_id,
        run_id,
        event.tool,
        Jsonb(redact(event.args)) if event.args is not None else None,
        event.digest,
        event.outcome,
        Jsonb(redact(detail)) if detail else None,
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilter:
    """What GET /audit asks for; every filter is optional and they combine with AND."""

    thread_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    kind: str | None = None
    actor: str | None = None
    tool: str | None = None
    since: datetime | None = None
    after: int | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(
        cls,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        kind: str | None = None,
        actor: str | None = None,
        tool: str | None = None,
        since: str | None = None,
        after: int | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> AuditFilter:
        """From query parameters; a malformed id or timestamp is a 422 that says what was expected."""
        return cls(
            thread_id=_parse_uuid("thread_id", thread_id),
            run_id=_parse_uuid("run_id", run_id),
            kind=kind,
            actor=actor,
            tool=tool,
            since=_parse_since(since),
            after=after,
            limit=limit,
        )


def _parse_uuid(name: str, value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Unprocessable(f"{name} must be a UUID such as 3f2c…-…; got {value[:60]!r}") from None


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"since must be an ISO 8601 timestamp such as 2025-01-31T12:00:00Z; got {value[:60]!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # no offset given: UTC


async def search(pool: Pool, query: AuditFilter) -> tuple[list[dict[str, Any]], int | None]:
    """One page, oldest first, and the cursor of the next page (None when this is the last)."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (
        ("thread_id", query.thread_id),
        ("run_id", query.run_id),
        ("kind", query.kind),
        ("actor", query.actor),
        ("tool", query.tool),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if query.since is not None:
        where.append("at >= %s")
        params.append(query.since)
    if query.after is not None:
        where.append("id > %s")
        params.append(query.after)
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY id LIMIT %s",
                [*params, query.limit + 1],  # one more than asked: whether a next page exists
            )
        ).fetchall()
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        return rows, int(rows[-1]["id"])
    return rows, None


class AuditRecord(BaseModel):
    """One row of the audit log. `args` are stored redacted; `digest` is of the unredacted call."""

    id: int = Field(description="Increasing; pass the last one seen as `after` to read what followed.")
    at: Timestamp
    actor: str | None = Field(description="Who: a user id, a reviewer, an admin, or `handrail`.")
    kind: str = Field(description="tool_call, approval_requested, approval_decided, kill_switch, …")
    thread_id: uuid.UUID | None
    run_id: uuid.UUID | None
    tool: str | None
    args: Any
    digest: str | None
    outcome: str | None
    detail: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditRecord:
        return cls(**{k: row[k] for k in cls.model_fields})
