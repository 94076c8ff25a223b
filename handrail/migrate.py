"""Applies migrations/NNNN_*.sql in order, once each, under an advisory lock; then LangGraph's own setup."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from handrail.db import Pool

logger = logging.getLogger("handrail.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# One fixed key: every Handrail process migrating the same database queues on it.
_LOCK_KEY = 0x48414E44  # "HAND"
_LOCK_POLL_S = 0.1
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration {path.name} must be named NNNN_snake_case.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a number in {folder}")
    return found


async def migrate(pool: Pool, *, with_langgraph: bool = True) -> list[str]:
    """Bring the schema up to date; returns the names applied now (empty when already current)."""
    applied_now: list[str] = []
    async with pool.connection() as conn:
        await _acquire(conn)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS handrail_migrations ("
                " version INT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            rows = await (await conn.execute("SELECT version, name, checksum FROM handrail_migrations")).fetchall()
            done = {r["version"]: r["checksum"] for r in rows}  # the pool uses dict rows
            for m in await asyncio.to_thread(load_migrations):  # file reads stay off the event loop
                if m.version in done:
                    if done[m.version] != m.checksum:
                        logger.warning("migration.changed_after_apply", extra={"migration": m.name})
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO handrail_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(m.name)
                logger.info("migration.applied", extra={"migration": m.name})
            if with_langgraph:
                await _langgraph_setup(pool)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


async def _acquire(conn: AsyncConnection[DictRow]) -> None:
    """Take the migration lock by polling: a starter blocked inside pg_advisory_lock() holds a
    snapshot, and the checkpointer's CREATE INDEX CONCURRENTLY waits for every snapshot, so a
    blocking wait would deadlock concurrent starts."""
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_LOCK_KEY,))).fetchone()
        if row and row["got"]:
            return
        await asyncio.sleep(_LOCK_POLL_S)


async def _langgraph_setup(pool: Pool) -> None:
    # Under our lock so that concurrent starts do not race on CREATE INDEX CONCURRENTLY.
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres.aio import AsyncPostgresStore

    await AsyncPostgresSaver(pool).setup()  # type: ignore[arg-type]
    await AsyncPostgresStore(pool).setup()  # type: ignore[arg-type]
