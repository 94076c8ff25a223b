"""SQL for the runs table (the durable queue) and run_events (every streamed event, in order)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import NotFound
from handrail.wire import Timestamp

IN_FLIGHT = ("pending", "running")
END_EVENT = "__end__"  # internal marker: the run is final; readers stop, clients never see it
# What a run's output adds to the thread's values: pending interrupts and the error (as /wait answers).
OUTPUT_EXTRAS = ("__interrupt__", "__error__")


def events_topic(run_id: object) -> str:
    """Bus topic nudged after every recorded event: what stream readers wait on."""
    return f"run:{run_id}"


def end_topic(run_id: object) -> str:
    """Bus topic nudged once, when the run is final: what `wait` and `join` wait on, so a client
    that needs only the final output is not woken (and does not query) once per event."""
    return f"run-end:{run_id}"


_RUN_COLUMNS = (
    "run_id, thread_id, assistant_id, user_id, status, metadata, kwargs, multitask_strategy, webhook, temporary, "
    "attempt, worker_id, cancel_action, error, created_at, updated_at, started_at, ended_at, summary"
)


# Whether the run is not its thread's first: only then can there be an older run's state to compact
# against it (worker._prune).
_FOLLOWS = (
    "EXISTS (SELECT 1 FROM runs o WHERE o.thread_id = runs.thread_id AND o.created_at < runs.created_at) AS follows"
)


RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]


class Run(BaseModel):
    """A run as the SDK's Run: what it was asked (`kwargs`), where it is (`status`), and once it ended, its summary."""

    # Forbidden (no key is ever extra here) so that mypy's pydantic plugin gives __init__ no catch-all **kwargs,
    # which would clash with the `kwargs` field.
    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID = Field(description="The resolved assistant (a UUID, even when the run named a graph).")
    created_at: Timestamp
    updated_at: Timestamp
    status: RunStatus
    metadata: dict[str, Any]
    kwargs: dict[str, Any] = Field(description="The run's normalised request: input, command, config, context, ….")
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"]
    # handrail/runs/summary.py
    summary: dict[str, Any] | None = Field(None, description="What the run did and cost; absent until it ends.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        keys = [k for k in cls.model_fields if k != "summary" or row.get("summary") is not None]
        return cls(**{k: row[k] for k in keys})


_INSERT_COLUMNS = (
    "run_id, thread_id, assistant_id, user_id, metadata, kwargs, multitask_strategy, webhook, temporary, available_at"
)
_INSERT_VALUES = (
    "%(run_id)s, %(thread_id)s, %(assistant_id)s, %(user_id)s, %(metadata)s, %(kwargs)s, %(multitask_strategy)s, "
    "%(webhook)s, %(temporary)s, now() + make_interval(secs => %(after_seconds)s)"
)
# The common case of run creation (enqueue, no resume) in one statement: marking the thread busy
# locks its row as the multitask path's SELECT ... FOR UPDATE does, so both still serialise per thread.
# With %(worker)s set, the run starts at once in that worker (the API's own process, which had a free
# slot) when nothing else of its thread is queued or running: no nudge, no claim, no hop to a listener.
# In a race with another run of the thread starting the same way, the one-running-per-thread index
# refuses the second (the caller then queues it).
_ENQUEUE = f"""
WITH thread AS (
    UPDATE threads SET status = 'busy', metadata = metadata || %(thread_metadata)s, updated_at = now()
    WHERE thread_id = %(thread_id)s AND (%(owner)s::text IS NULL OR user_id IS NULL OR user_id = %(owner)s)
    RETURNING thread_id, user_id
), start AS (
    SELECT %(worker)s::text IS NOT NULL AND %(after_seconds)s = 0 AND NOT EXISTS (
        SELECT 1 FROM runs WHERE thread_id = %(thread_id)s AND status IN ('pending', 'running')) AS now
), run AS (
    INSERT INTO runs ({_INSERT_COLUMNS}, status, worker_id, heartbeat_at, attempt, started_at)
    SELECT {_INSERT_VALUES.replace("%(user_id)s", "coalesce(thread.user_id, %(user_id)s)")},
           CASE WHEN start.now THEN 'running' ELSE 'pending' END, CASE WHEN start.now THEN %(worker)s END,
           CASE WHEN start.now THEN now() END, CASE WHEN start.now THEN 1 ELSE 0 END, CASE WHEN start.now THEN now() END
    FROM thread, start
    RETURNING {_RUN_COLUMNS}, {_FOLLOWS}
), nudge AS (
    SELECT {{notify}} FROM run WHERE run.status = 'pending'
)
SELECT run.*, (SELECT count(*) FROM nudge) AS nudged FROM run
"""


def _run_params(
    *,
    run_id: uuid.UUID | None = None,
    thread_id: uuid.UUID,
    assistant_id: uuid.UUID,
    user_id: str,
    metadata: dict[str, Any],
    kwargs: dict[str, Any],
    multitask_strategy: str,
    webhook: str | None,
    temporary: bool,
    after_seconds: float | None,
) -> dict[str, Any]:
    return {
        "run_id": run_id or uuid.uuid4(),
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "user_id": user_id,
        "metadata": Jsonb(metadata),
        "kwargs": Jsonb(kwargs),
        "multitask_strategy": multitask_strategy,
        "webhook": webhook,
        "temporary": temporary,
        "after_seconds": after_seconds or 0,
    }


async def insert_run(conn: AsyncConnection[DictRow], **fields: Any) -> dict[str, Any]:
    """Insert a run inside the caller's transaction; `fields` as `_run_params` takes them."""
    sql = f"INSERT INTO runs ({_INSERT_COLUMNS}) VALUES ({_INSERT_VALUES}) RETURNING {_RUN_COLUMNS}"
    row = await (await conn.execute(sql, _run_params(**fields))).fetchone()
    assert row is not None
    return row


async def enqueue_run(
    pool: Pool,
    *,
    thread_metadata: dict[str, Any],
    notify: tuple[str, str] | None,
    owner: str | None,
    start_by: str | None = None,
    **fields: Any,
) -> dict[str, Any] | None:
    """Queue a run on an existing thread and mark the thread busy, in one statement (with the workers'
    nudge when the bus is Postgres), or start it at once in worker `start_by` (see _ENQUEUE): the row's
    status says which. The run belongs to the thread's user. None when there is no such thread owned
    by `owner` (None: any owner)."""
    params = _run_params(**fields) | {"thread_metadata": Jsonb(thread_metadata), "worker": start_by, "owner": owner}
    async with pool.connection() as conn:
        row = await (await conn.execute(_ENQUEUE.format(notify=_nudge(notify, params)), params)).fetchone()
    if row is not None:
        row.pop("nudged", None)
    return row


async def get_run(pool: Pool, principal: Principal, thread_id: str | None, run_id: str) -> dict[str, Any]:
    try:
        rid = uuid.UUID(run_id)
    except ValueError as exc:
        raise NotFound(f"run {run_id} not found (run ids are UUIDs)") from exc
    async with pool.connection() as conn:
        row = await (await conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = %s", (rid,))).fetchone()
    if row is None or not principal.owns(row["user_id"]) or (thread_id and str(row["thread_id"]) != thread_id):
        raise NotFound(f"run {run_id} not found")
    return row


async def load_run(pool: Pool, run_id: uuid.UUID) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        return await (await conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,))).fetchone()


async def list_runs(
    pool: Pool, thread_id: uuid.UUID, *, limit: int, offset: int, status: str | None
) -> list[dict[str, Any]]:
    sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = %s"
    params: list[Any] = [thread_id]
    if status:
        sql += " AND status = %s"
        params.append(status)
    sql += " ORDER BY created_at DESC LIMIT %s OFFSET %s"
    async with pool.connection() as conn:
        return await (await conn.execute(sql, [*params, limit, offset])).fetchall()


async def in_flight(conn: AsyncConnection[DictRow], thread_id: uuid.UUID) -> list[dict[str, Any]]:
    return await (
        await conn.execute(
            "SELECT run_id, status FROM runs WHERE thread_id = %s AND status IN ('pending', 'running') "
            "ORDER BY created_at",
            (thread_id,),
        )
    ).fetchall()


async def delete_run(conn: AsyncConnection[DictRow], run_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM runs WHERE run_id = %s", (run_id,))


async def in_flight_of(pool: Pool, owner: str | None, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    """Runs in these states (pending and/or running) of one user, or of every user when `owner` is None."""
    sql = "SELECT run_id, thread_id, status FROM runs WHERE status = ANY(%s)"
    params: list[Any] = [list(statuses)]
    if owner is not None:
        sql += " AND user_id = %s"
        params.append(owner)
    async with pool.connection() as conn:
        return await (await conn.execute(sql + " ORDER BY created_at", params)).fetchall()


async def db_now(pool: Pool) -> Any:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT now() AS now")).fetchone()
    assert row is not None
    return row["now"]


async def runs_to_follow(pool: Pool, thread_id: uuid.UUID, since: Any) -> list[dict[str, Any]] | None:
    """A thread's runs in flight or created since `since`, oldest first (what its stream follows);
    None when the thread no longer exists."""
    async with pool.connection() as conn:
        exists = await (await conn.execute("SELECT 1 FROM threads WHERE thread_id = %s", (thread_id,))).fetchone()
        if exists is None:
            return None
        return await (
            await conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE thread_id = %s "
                "AND (status IN ('pending', 'running') OR created_at >= %s) ORDER BY created_at",
                (thread_id, since),
            )
        ).fetchall()


# --- the queue -------------------------------------------------------------------------------

_CLAIM = f"""
UPDATE runs SET status = 'running', worker_id = %(worker)s, heartbeat_at = now(), attempt = attempt + 1,
       started_at = coalesce(started_at, now()), updated_at = now()
WHERE run_id = (
    SELECT r.run_id FROM runs r
    WHERE r.status = 'pending' AND r.available_at <= now()
      AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.thread_id = r.thread_id AND o.status = 'running')
      AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.thread_id = r.thread_id AND o.status = 'pending'
                      AND o.created_at < r.created_at)
    ORDER BY r.created_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1)
RETURNING {_RUN_COLUMNS}, {_FOLLOWS}
"""


async def claim_next(pool: Pool, worker_id: str) -> dict[str, Any] | None:
    """The oldest runnable run, now ours; one run per thread at a time, oldest first."""
    from psycopg.errors import UniqueViolation

    async with pool.connection() as conn:
        try:
            return await (await conn.execute(_CLAIM, {"worker": worker_id})).fetchone()
        except UniqueViolation:
            return None  # another worker started a run on that thread in the same instant


async def heartbeat(pool: Pool, worker_id: str, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """Extend our leases; returns run id → requested cancel action for the runs still ours."""
    if not run_ids:
        return {}
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "UPDATE runs SET heartbeat_at = now() WHERE run_id = ANY(%s) AND worker_id = %s AND status = 'running' "
                "RETURNING run_id, cancel_action",
                (run_ids, worker_id),
            )
        ).fetchall()
    return {r["run_id"]: r["cancel_action"] for r in rows}


# Registered workers whose liveness lock is gone: their process (or its connection) has died.
_DEAD_WORKERS = """
SELECT w.worker_id FROM workers w
WHERE NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = %(namespace)s::oid AND l.objid = w.lock_key::oid)
"""


async def reap_expired(
    pool: Pool, lease_s: float, max_attempts: int, *, dead_after_s: float, namespace: int
) -> list[dict[str, Any]]:
    """Runs whose worker is gone go back to the queue (or fail after too many attempts). Gone means
    no heartbeat for `lease_s`, or a registered worker whose liveness lock vanished and whose
    heartbeat is older than `dead_after_s` (a few beats: a brief gap in its lock connection is not death)."""
    async with pool.connection() as conn, conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE runs SET status = CASE WHEN attempt >= %(max)s THEN 'error' ELSE 'pending' END, "
                "error = CASE WHEN attempt >= %(max)s THEN jsonb_build_object('error', 'WorkerLost', 'message', "
                "'the run lost its worker ' || attempt || ' times; giving up') ELSE error END, "
                "worker_id = NULL, updated_at = now() "
                "WHERE status = 'running' AND (heartbeat_at < now() - make_interval(secs => %(lease)s) "
                "  OR (heartbeat_at < now() - make_interval(secs => %(dead)s) "
                f"      AND worker_id IN ({_DEAD_WORKERS}))) "
                "RETURNING run_id, thread_id, status, attempt",
                {"max": max_attempts, "lease": lease_s, "dead": dead_after_s, "namespace": namespace},
            )
        ).fetchall()
        # Forget dead workers once nothing of theirs is running any more.
        await conn.execute(
            f"DELETE FROM workers WHERE worker_id IN ({_DEAD_WORKERS}) "
            "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.worker_id = workers.worker_id AND r.status = 'running')",
            {"namespace": namespace},
        )
    return rows


async def finished_temporary_threads(pool: Pool, older_than_s: float) -> list[str]:
    """Threads of stateless runs that ended a while ago. Not deleted at once: the delete cascades to
    the run's event log, which a late `wait` or stream reader may still be reading. Nor while a person
    has the thread (an open handoff): the delete would take the handoff and the conversation with it."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT DISTINCT thread_id FROM runs WHERE temporary AND status IN ('success', 'error', 'timeout', "
                "'interrupted') AND ended_at < now() - make_interval(secs => %s) AND NOT EXISTS (SELECT 1 FROM "
                "handoffs h WHERE h.thread_id = runs.thread_id AND h.status = 'open') LIMIT 100",
                (older_than_s,),
            )
        ).fetchall()
    return [str(r["thread_id"]) for r in rows]


async def claim_unsent_webhooks(pool: Pool, stale_after_s: float, limit: int = 20) -> list[uuid.UUID]:
    """Finished runs whose webhook never arrived and is not being sent now; claimed by stamping the attempt."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "UPDATE runs SET webhook_attempted_at = now() WHERE run_id IN ("
                " SELECT run_id FROM runs WHERE webhook IS NOT NULL AND webhook_sent_at IS NULL"
                " AND status IN ('success', 'error', 'timeout', 'interrupted')"
                " AND (webhook_attempted_at IS NULL OR webhook_attempted_at < now() - make_interval(secs => %s))"
                " ORDER BY ended_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING run_id",
                (stale_after_s, limit),
            )
        ).fetchall()
    return [r["run_id"] for r in rows]


async def mark_webhook(pool: Pool, run_id: uuid.UUID, *, sent: bool) -> None:
    column = "webhook_sent_at" if sent else "webhook_attempted_at"
    async with pool.connection() as conn:
        await conn.execute(f"UPDATE runs SET {column} = now() WHERE run_id = %s", (run_id,))


async def release(pool: Pool, run_id: uuid.UUID, worker_id: str) -> None:
    """Hand a run back to the queue (graceful shutdown): another worker resumes it from its checkpoint."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE runs SET status = 'pending', worker_id = NULL, updated_at = now() "
            "WHERE run_id = %s AND worker_id = %s AND status = 'running'",
            (run_id, worker_id),
        )


# One statement ends a run: its status, the thread's state, the end marker and (on the Postgres bus)
# the nudge to its readers, all at one commit. It was a transaction of six round trips on the run's
# critical path. The thread is only touched while the run is still ours, and reads `busy` while
# another run of it is queued or running.
_FINISH = """
WITH fin AS (
    UPDATE runs SET status = %(status)s, error = %(error)s, summary = %(summary)s, ended_at = now(), updated_at = now()
    WHERE run_id = %(run)s AND status IN ('pending', 'running') AND worker_id = %(worker)s
    RETURNING run_id, thread_id
), thread AS (
    UPDATE threads t SET
        status = CASE WHEN EXISTS (
            SELECT 1 FROM runs o WHERE o.thread_id = t.thread_id AND o.run_id <> %(run)s
              AND o.status IN ('pending', 'running')) THEN 'busy' ELSE %(thread_status)s END,
        "values" = %(values)s, interrupts = %(interrupts)s, error = %(error)s,
        updated_at = now(), state_updated_at = now()
    FROM fin WHERE t.thread_id = fin.thread_id
    RETURNING t.thread_id
), ended AS (
    INSERT INTO run_events (run_id, seq, event, data)
    SELECT fin.run_id, coalesce((SELECT max(seq) FROM run_events WHERE run_id = %(run)s), 0) + 1, %(end_event)s, %(end)s
    FROM fin
    RETURNING seq
)
SELECT ended.seq, {notify} AS nudged FROM ended
"""


async def finish(
    pool: Pool,
    run_id: uuid.UUID,
    status: str,
    error: dict[str, Any] | None,
    *,
    worker_id: str,
    thread_status: str,
    values: Any,
    interrupts: Any,
    output: Any = None,
    output_of: int | None = None,
    notify: tuple[str, str] | None = None,
    summary: dict[str, Any] | None = None,
) -> bool:
    """Mark the run terminal (with its summary), record its thread's state and close its event stream, atomically.
    False if the run was no longer ours (nothing is written then).

    `output_of`: the seq of the run's last `values` event when that event already holds the output's
    values; the end marker then points at it and carries only what it adds (interrupts, the error).
    `notify`: (channel, payload) sent with the commit, for readers on the Postgres bus."""
    # The final output rides on the end marker: a stateless run's thread is gone once it ends.
    end: dict[str, Any] = {"status": status, "output": output}
    if output_of is not None:
        extra = {k: v for k, v in (output or {}).items() if k in OUTPUT_EXTRAS}
        end = {"status": status, "output_of": output_of, "extra": extra}
    params = {
        "status": status,
        "error": Jsonb(error),
        "run": run_id,
        "worker": worker_id,
        "thread_status": thread_status,
        "values": Jsonb(values),
        "interrupts": Jsonb(interrupts),
        "end_event": END_EVENT,
        "end": Jsonb(end),
        "summary": Jsonb(summary) if summary is not None else None,
    }
    async with pool.connection() as conn:
        row = await (await conn.execute(_FINISH.format(notify=_nudge(notify, params)), params)).fetchone()
    return row is not None


def _nudge(notify: tuple[str, str] | None, params: dict[str, Any]) -> str:
    """The SQL expression that sends `notify` (channel, payload) with the statement's commit: NOTIFY
    is delivered at commit, so the readers it wakes find what the statement wrote."""
    if notify is None:
        return "NULL"
    params |= {"channel": notify[0], "payload": notify[1]}
    return "pg_notify(%(channel)s, %(payload)s)"


async def cancel_pending(conn: AsyncConnection[DictRow], run_id: uuid.UUID, action: str) -> None:
    """A run nobody executes yet: interrupted at once (rollback: deleted)."""
    if action == "rollback":
        await conn.execute("DELETE FROM runs WHERE run_id = %s AND status = 'pending'", (run_id,))
        return
    row = await (
        await conn.execute(
            "UPDATE runs SET status = 'interrupted', ended_at = now(), updated_at = now() "
            "WHERE run_id = %s AND status = 'pending' RETURNING run_id",
            (run_id,),
        )
    ).fetchone()
    if row is not None:
        await _append(conn, run_id, END_EVENT, {"status": "interrupted", "output": None})


async def request_cancel(conn: AsyncConnection[DictRow], run_id: uuid.UUID, action: str) -> None:
    """A running run: its worker sees the request at its next heartbeat (or at once, via the bus)."""
    await conn.execute(
        "UPDATE runs SET cancel_action = %s, updated_at = now() WHERE run_id = %s AND status = 'running'",
        (action, run_id),
    )


# --- events ----------------------------------------------------------------------------------


async def _append(conn: AsyncConnection[DictRow], run_id: uuid.UUID, event: str, data: Any) -> int:
    """Record one event outside a run's stream (an error, the end marker); a run's stream goes through
    its EventWriter."""
    row = await (
        await conn.execute(
            "INSERT INTO run_events (run_id, seq, event, data) "
            "SELECT %s, coalesce(max(seq), 0) + 1, %s, %s FROM run_events WHERE run_id = %s RETURNING seq",
            (run_id, event, Jsonb(data), run_id),
        )
    ).fetchone()
    assert row is not None
    return int(row["seq"])


async def append_event(pool: Pool, run_id: uuid.UUID, event: str, data: Any) -> int:
    async with pool.connection() as conn:
        return await _append(conn, run_id, event, data)
