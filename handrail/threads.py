"""The threads table: ownership, metadata and the status a client sees; state lives in checkpoints."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound, Unprocessable
from handrail.sql import paged
from handrail.wire import Interrupt, Timestamp

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
_COLUMNS = (
    'thread_id, user_id, metadata, config, status, "values", interrupts, error, created_at, updated_at, '
    "state_updated_at"
)


class Thread(BaseModel):
    """A conversation, as the SDK's Thread: its status and the values of its latest state (the state itself is in
    checkpoints: GET /threads/{id}/state)."""

    thread_id: uuid.UUID
    created_at: Timestamp
    updated_at: Timestamp
    state_updated_at: Timestamp
    metadata: dict[str, Any] = Field(description="Free-form; creating a run adds `graph_id` and `assistant_id`.")
    config: dict[str, Any]
    status: ThreadStatus
    values: Any = Field(None, description="The latest state's values: null before the first run; absent on a copy.")
    interrupts: dict[str, list[Interrupt]] | None = Field(
        None, description="Pending interrupts by task id; absent on a thread that never ran."
    )
    error: dict[str, Any] | None = Field(
        None, description="`{error, message}` when the last run failed; absent on a thread that never ran."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any], *, include_values: bool = True) -> Thread:
        """The thread as the API answers it: keys that are absent stay unset (routes exclude unset keys)."""
        keys = ["thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config", "status"]
        if include_values:
            keys += ["values"] + [k for k in ("interrupts", "error") if row[k] is not None]
        return cls(**{k: row[k] for k in keys})


async def create_thread(
    pool: Pool,
    principal: Principal,
    *,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    if_exists: str = "raise",
) -> dict[str, Any]:
    tid = parse_new_id(thread_id) if thread_id else uuid.uuid4()
    async with pool.connection() as conn:
        row = await insert_thread(conn, principal.user_id, tid, metadata or {})
    if row is not None:
        return row
    if if_exists == "do_nothing":
        return await get_thread(pool, principal, str(tid))
    raise Conflict(f"thread {tid} already exists; pass if_exists='do_nothing' to reuse it")


async def insert_thread(
    conn: AsyncConnection[DictRow], user_id: str, thread_id: uuid.UUID, metadata: dict[str, Any]
) -> dict[str, Any] | None:
    """The new thread's row, or None when the id is taken. Runs in the caller's transaction."""
    return await (
        await conn.execute(
            f"INSERT INTO threads (thread_id, user_id, metadata) VALUES (%s, %s, %s) "
            f"ON CONFLICT (thread_id) DO NOTHING RETURNING {_COLUMNS}",
            (thread_id, user_id, Jsonb(metadata)),
        )
    ).fetchone()


async def get_thread(pool: Pool, principal: Principal, thread_id: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM threads WHERE thread_id = %s", (_uuid(thread_id),))
        ).fetchone()
    if row is None or not principal.owns(row["user_id"]):
        raise NotFound(f"thread {thread_id} not found")
    return row


async def patch_thread(pool: Pool, principal: Principal, thread_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    await get_thread(pool, principal, thread_id)
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                f"UPDATE threads SET metadata = metadata || %s, updated_at = now() WHERE thread_id = %s "
                f"RETURNING {_COLUMNS}",
                (Jsonb(metadata), _uuid(thread_id)),
            )
        ).fetchone()
    assert row is not None
    return row


async def set_status(
    pool: Pool,
    thread_id: str,
    status: ThreadStatus,
    *,
    values: Any = None,
    interrupts: Any = None,
    error: Any = None,
    with_state: bool = False,
) -> None:
    """Record the thread's status; with_state also stores the values/interrupts/error snapshot."""
    if with_state:
        sql = (
            'UPDATE threads SET status = %s, "values" = %s, interrupts = %s, error = %s, '
            "updated_at = now(), state_updated_at = now() WHERE thread_id = %s"
        )
        params: tuple[Any, ...] = (status, Jsonb(values), Jsonb(interrupts), Jsonb(error), _uuid(thread_id))
    else:
        sql = "UPDATE threads SET status = %s, updated_at = now() WHERE thread_id = %s"
        params = (status, _uuid(thread_id))
    async with pool.connection() as conn:
        await conn.execute(sql, params)


async def search_threads(
    pool: Pool,
    principal: Principal,
    *,
    ids: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    status: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    count_only: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    where: list[str] = []
    params: list[Any] = []
    if not principal.is_admin:
        where.append("user_id = %s")
        params.append(principal.user_id)
    if ids:
        where.append("thread_id = ANY(%s)")
        params.append([_uuid(i) for i in ids])
    if metadata:
        where.append("metadata @> %s")
        params.append(Jsonb(metadata))
    if values:
        where.append('"values" @> %s')
        params.append(Jsonb(values))
    if status:
        where.append("status = %s")
        params.append(status)
    return await paged(
        pool,
        table="threads",
        columns=_COLUMNS,
        where=where,
        params=params,
        sortable=("thread_id", "status", "created_at", "updated_at"),
        sort_by=sort_by,
        sort_order=sort_order,
        limit=0 if count_only else limit,
        offset=offset,
    )


async def copy_thread(pool: Pool, principal: Principal, thread_id: str) -> dict[str, Any]:
    """A new thread with the same metadata and a copy of every checkpoint."""
    source = await get_thread(pool, principal, thread_id)
    new_id = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                f'INSERT INTO threads (thread_id, user_id, metadata, config, status, "values", interrupts) '
                f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (
                    new_id,
                    source["user_id"],
                    Jsonb(source["metadata"]),
                    Jsonb(source["config"]),
                    "interrupted" if source["status"] == "interrupted" else "idle",
                    Jsonb(source["values"]),
                    Jsonb(source["interrupts"]),
                ),
            )
        ).fetchone()
        for table, columns in (
            ("checkpoints", "checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"),
            ("checkpoint_blobs", "checkpoint_ns, channel, version, type, blob"),
            ("checkpoint_writes", "checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path"),
        ):
            await conn.execute(
                f"INSERT INTO {table} (thread_id, {columns}) SELECT %s, {columns} FROM {table} WHERE thread_id = %s",
                (str(new_id), str(source["thread_id"])),
            )
    assert row is not None
    return row


def parse_new_id(thread_id: str) -> uuid.UUID:
    """The id a caller chose for a new thread: a UUID, or 422 naming the field."""
    try:
        return uuid.UUID(str(thread_id))
    except ValueError as exc:
        raise Unprocessable(
            f"thread_id {thread_id!r} is not a UUID; send a UUID such as {uuid.uuid4()} or omit it"
        ) from exc


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"thread {value} not found (thread ids are UUIDs)") from exc
