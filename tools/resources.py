"""Resources the side-effecting tools use: a Postgres pool and, optionally, an SMTP server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tools.base import ToolEnv


class ConnectionSource(Protocol):
    """Anything with psycopg_pool's `connection()`: the service's pool, or a lazily opened one."""

    def connection(self) -> Any: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "handrail@localhost"


@dataclass(frozen=True)
class ToolResources:
    pool: ConnectionSource
    smtp: SmtpConfig | None = None


async def insert_once(
    cur: Any, insert_sql: str, existing_sql: str, params: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Insert the row for this idempotency key, or fetch the one an earlier attempt wrote.

    Returns the row and whether it already existed. `insert_sql` must use ON CONFLICT DO NOTHING
    RETURNING, so a replayed or retried call never acts twice.
    """
    row = await (await cur.execute(insert_sql, params)).fetchone()
    if row is not None:
        return row, False
    existing = await (await cur.execute(existing_sql, params)).fetchone()
    assert existing is not None, "ON CONFLICT found the row, so it exists"
    return existing, True


def resources_of(env: ToolEnv) -> ToolResources | None:
    """The resources the runtime attached, or None when the tool runs without a database."""
    res = env.resources
    return res if isinstance(res, ToolResources) else None
