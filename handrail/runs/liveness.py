"""Proof that a worker is alive, kept by Postgres itself: a session-level advisory lock held on a
connection of the worker's own for as long as its process lives. When the process dies the server
closes the connection and the lock is gone, so a dead worker's runs can be taken over within
seconds instead of after RUN_LEASE_S (the reaper in `repo.reap_expired` reads `pg_locks`)."""

from __future__ import annotations

import logging

from psycopg import AsyncConnection

logger = logging.getLogger("handrail.worker")

# First key of every worker's lock ("HRLW"); the second is derived from the worker id in SQL.
LOCK_NAMESPACE = 0x48524C57
_HOLD = "SELECT pg_try_advisory_lock(%s, hashtext(%s) & 2147483647) AS held, hashtext(%s) & 2147483647 AS key"
_REGISTER = (
    "INSERT INTO workers (worker_id, lock_key) VALUES (%s, %s) "
    "ON CONFLICT (worker_id) DO UPDATE SET lock_key = EXCLUDED.lock_key, started_at = now()"
)


class Liveness:
    """The lock and its connection. `hold` takes it and registers the worker; `ensure` takes it again
    when its connection was lost (a Postgres restart drops every lock); `release` lets it go, and the
    reaper forgets the worker once none of its runs is running."""

    def __init__(self, conn: AsyncConnection[object] | None, dsn: str, worker_id: str) -> None:
        self._conn = conn
        self._dsn = dsn
        self._worker_id = worker_id

    @classmethod
    async def hold(cls, dsn: str, worker_id: str) -> Liveness:
        """Take the lock. Without it (another session holds the same key) the worker still runs, judged by
        its lease alone, as before: a missing lock must never make a live worker's runs look abandoned."""
        conn = await AsyncConnection.connect(dsn, autocommit=True)
        row = await (await conn.execute(_HOLD, (LOCK_NAMESPACE, worker_id, worker_id))).fetchone()
        assert row is not None
        held, key = row[0], row[1]  # type: ignore[index]
        if not held:
            logger.warning("worker.liveness_lock_taken", extra={"worker_id": worker_id, "lock_key": key})
            await conn.close()
            return cls(None, dsn, worker_id)
        await conn.execute(_REGISTER, (worker_id, key))
        return cls(conn, dsn, worker_id)

    async def ensure(self) -> None:
        """Called every heartbeat: one round trip on the lock's connection; a lost one is taken again."""
        if self._conn is not None and not self._conn.closed:
            try:
                await self._conn.execute("SELECT 1")
                return
            except Exception:
                logger.warning("worker.liveness_lost", extra={"worker_id": self._worker_id}, exc_info=True)
                await self._conn.close()
        renewed = await Liveness.hold(self._dsn, self._worker_id)
        self._conn = renewed._conn

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()  # closing the session releases the lock
