"""Crons: schedules that create runs, kept in Postgres and fired by a scheduler loop in every process.

A due cron is claimed with FOR UPDATE SKIP LOCKED, so one replica fires it; its next date is computed from
now, not from the missed date, so a server that was down for several periods fires once when it starts.
The run (with a stateless cron's thread) is inserted in the transaction that claims the cron and advances
its date, so the firing and the new date commit together: a crash, or a failed update, fires nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from handrail import assistants, threads
from handrail.auth import Principal
from handrail.errors import HandrailError, NotFound, Unprocessable
from handrail.runs.schemas import RunCreate
from handrail.sql import paged
from handrail.wire import Timestamp

if TYPE_CHECKING:
    from handrail.services import Services

logger = logging.getLogger("handrail.crons")

# The RunCreate fields a cron keeps as its payload and replays at every firing.
PAYLOAD_FIELDS = (
    "input",
    "metadata",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
    "multitask_strategy",
)
_COLUMNS = (
    "cron_id, assistant_id, thread_id, user_id, schedule, timezone, end_time, payload, metadata, "
    "on_run_completed, enabled, next_run_date, created_at, updated_at"
)
SORTABLE = ("cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at")


def zone(name: str | None) -> ZoneInfo:
    """The cron's time zone; an unknown name is the caller's fault, said plainly."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Unprocessable(f"unknown timezone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'") from exc


def check_schedule(schedule: str) -> None:
    if not croniter.is_valid(schedule):
        raise Unprocessable(
            f"invalid cron schedule {schedule!r}; expected 5 fields (minute hour day month weekday) "
            "or 6 with seconds last, e.g. '*/5 * * * *'"
        )


def next_date(schedule: str, tz: str | None, after: datetime, end_time: datetime | None) -> datetime | None:
    """The first firing strictly after `after` in the cron's zone; None once past `end_time`."""
    try:
        nxt: datetime = croniter(schedule, after.astimezone(zone(tz))).get_next(datetime)
    except CroniterBadDateError as exc:
        raise Unprocessable(f"cron schedule {schedule!r} never fires (no such date); check its day and month") from exc
    if end_time is not None and nxt > end_time:
        return None
    return nxt.astimezone(UTC)


class Cron(BaseModel):
    """A schedule and the run it creates at each firing (`payload`), on its thread or on a new one each time."""

    cron_id: uuid.UUID
    assistant_id: uuid.UUID
    thread_id: uuid.UUID | None = Field(description="null for a stateless cron: each firing gets a new thread.")
    user_id: str
    schedule: str
    timezone: str
    end_time: Timestamp | None
    payload: dict[str, Any] = Field(description="The run's fields, replayed at every firing.")
    metadata: dict[str, Any]
    on_run_completed: Literal["delete", "keep"] | None = Field(
        description="Stateless crons: what happens to each firing's thread; null on a thread's cron."
    )
    enabled: bool
    next_run_date: Timestamp | None = Field(description="null once the schedule has passed its end_time.")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Cron:
        return cls(**{k: row[k] for k in cls.model_fields})


async def create_cron(
    services: Services, principal: Principal, thread_id: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    schedule, tz, end_time = body["schedule"], body.get("timezone") or "UTC", body.get("end_time")
    check_schedule(schedule)
    zone(tz)
    payload = {k: body[k] for k in PAYLOAD_FIELDS if body.get(k) is not None}
    RunCreate(assistant_id=body["assistant_id"], **payload)
    assistant = await assistants.resolve(services.pool, principal, body["assistant_id"], list(services.graphs))
    if thread_id is not None:
        thread = await threads.get_thread(services.pool, principal, thread_id)
        tid, on_completed = thread["thread_id"], None
    else:
        tid, on_completed = None, body.get("on_run_completed") or "delete"
    enabled = body.get("enabled", True) is not False
    nxt = next_date(schedule, tz, datetime.now(UTC), end_time)
    async with services.pool.connection() as conn:
        row = await (
            await conn.execute(
                f"INSERT INTO crons (cron_id, assistant_id, thread_id, user_id, schedule, timezone, end_time, payload,"
                f" metadata, on_run_completed, enabled, next_run_date) VALUES"
                f" (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (
                    uuid.uuid4(),
                    assistant["assistant_id"],
                    tid,
                    principal.user_id,
                    schedule,
                    tz,
                    end_time,
                    Jsonb(payload),
                    Jsonb(body.get("metadata") or {}),
                    on_completed,
                    enabled,
                    nxt,
                ),
            )
        ).fetchone()
    assert row is not None
    return row


async def get_cron(services: Services, principal: Principal, cron_id: str) -> dict[str, Any]:
    async with services.pool.connection() as conn:
        row = await (await conn.execute(f"SELECT {_COLUMNS} FROM crons WHERE cron_id = %s", (cron_id,))).fetchone()
    if row is None or not principal.owns(row["user_id"]):
        raise NotFound(f"cron {cron_id} not found")
    return row


async def update_cron(services: Services, principal: Principal, cron_id: str, body: dict[str, Any]) -> dict[str, Any]:
    row = await get_cron(services, principal, cron_id)
    schedule = body.get("schedule") or row["schedule"]
    tz = body.get("timezone") or row["timezone"]
    check_schedule(schedule)
    zone(tz)
    end_time = body["end_time"] if "end_time" in body else row["end_time"]
    payload = {**row["payload"], **{k: body[k] for k in PAYLOAD_FIELDS if body.get(k) is not None}}
    RunCreate(assistant_id=str(row["assistant_id"]), **payload)
    enabled = row["enabled"] if body.get("enabled") is None else bool(body["enabled"])
    on_completed = row["on_run_completed"]
    if row["thread_id"] is None and body.get("on_run_completed"):
        on_completed = body["on_run_completed"]
    metadata = row["metadata"] if body.get("metadata") is None else body["metadata"]
    nxt = next_date(schedule, tz, datetime.now(UTC), end_time)
    async with services.pool.connection() as conn:
        updated = await (
            await conn.execute(
                f"UPDATE crons SET schedule = %s, timezone = %s, end_time = %s, payload = %s, metadata = %s,"
                f" on_run_completed = %s, enabled = %s, next_run_date = %s, updated_at = now()"
                f" WHERE cron_id = %s RETURNING {_COLUMNS}",
                (schedule, tz, end_time, Jsonb(payload), Jsonb(metadata), on_completed, enabled, nxt, cron_id),
            )
        ).fetchone()
    if updated is None:
        raise NotFound(f"cron {cron_id} not found")
    return updated


async def delete_cron(services: Services, principal: Principal, cron_id: str) -> None:
    await get_cron(services, principal, cron_id)
    async with services.pool.connection() as conn:
        await conn.execute("DELETE FROM crons WHERE cron_id = %s", (cron_id,))


async def search_crons(
    services: Services,
    principal: Principal,
    *,
    assistant_id: str | None = None,
    thread_id: str | None = None,
    enabled: bool | None = None,
    metadata: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> tuple[list[dict[str, Any]], int]:
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    if not principal.is_admin:
        where.append("user_id = %s")
        args.append(principal.user_id)
    if assistant_id is not None:
        assistant = await assistants.resolve(services.pool, principal, assistant_id, list(services.graphs))
        where.append("assistant_id = %s")
        args.append(assistant["assistant_id"])
    if thread_id is not None:
        where.append("thread_id = %s")
        args.append(threads.parse_new_id(thread_id))
    if enabled is not None:
        where.append("enabled = %s")
        args.append(enabled)
    if metadata:
        where.append("metadata @> %s")
        args.append(Jsonb(metadata))
    if sort_by not in SORTABLE:
        raise Unprocessable(f"cannot sort crons by {sort_by!r}; use one of {', '.join(SORTABLE)}")
    return await paged(
        services.pool,
        table="crons",
        columns=_COLUMNS,
        where=where,
        params=args,
        sortable=SORTABLE,
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit,
        offset=offset,
        key="cron_id",
    )


_CLAIM = f"""
SELECT {_COLUMNS} FROM crons
WHERE enabled AND next_run_date <= now()
ORDER BY next_run_date LIMIT 1 FOR UPDATE SKIP LOCKED
"""


async def fire_due(services: Services) -> int:
    """Every cron due now, each fired once; returns how many runs were created."""
    from handrail.runs import service as run_service  # it imports handrail.services, which starts this loop

    fired = 0
    while True:
        async with services.pool.connection() as conn:
            async with conn.transaction():
                row = await (await conn.execute(_CLAIM)).fetchone()
                if row is None:
                    return fired
                now = datetime.now(UTC)
                queued = None
                if row["end_time"] is None or row["end_time"] > now:
                    queued = await _fire(conn, services, row)
                nxt = next_date(row["schedule"], row["timezone"], now, row["end_time"])
                await conn.execute(
                    "UPDATE crons SET next_run_date = %s, updated_at = now() WHERE cron_id = %s",
                    (nxt, row["cron_id"]),
                )
        if queued is not None:  # committed: now the workers may look for it
            run, cancelled_running = queued
            fired += 1
            await run_service.announce_run(services, cancelled_running=cancelled_running)
            logger.info("cron.fired", extra={"cron_id": str(row["cron_id"]), "run_id": str(run["run_id"])})


async def _fire(
    conn: AsyncConnection[Any], services: Services, row: dict[str, Any]
) -> tuple[dict[str, Any], bool] | None:
    """Insert the cron's run in the claim's transaction, so it commits with the advanced date or not at all.
    A run that cannot be created (its assistant deleted, its thread busy and the strategy `reject`) is
    logged and leaves nothing behind (a savepoint): the date still advances."""
    from handrail.runs import service as run_service

    owner = Principal(user_id=row["user_id"])
    stateless = row["thread_id"] is None
    try:
        body = RunCreate(
            assistant_id=str(row["assistant_id"]),
            on_completion=row["on_run_completed"] if stateless else None,
            **row["payload"],
        )
        draft = await run_service.prepare_run(services, owner, None if stateless else str(row["thread_id"]), body)
        tid = uuid.uuid4() if stateless else row["thread_id"]
        temporary = stateless and body.on_completion != "keep"
        fields = run_service.on_thread(services, draft, tid, user_id=owner.user_id, temporary=temporary)
        async with conn.transaction():
            return await run_service.queue_run_in(conn, services, fields, new_thread=stateless)
    except HandrailError:
        logger.exception("cron.fire_failed", extra={"cron_id": str(row["cron_id"])})
        return None


async def scheduler(services: Services) -> None:
    """This process's cron loop: a pass every CRON_POLL_S; a failed pass is logged and the next one tries again."""
    while True:
        try:
            await fire_due(services)
        except Exception:
            logger.exception("cron.pass_failed")
        await asyncio.sleep(services.settings.cron_poll_s)
