"""Crons through the real SDK on two replicas sharing one database: CRUD, validation, ownership, firing
exactly once (one replica claims a due cron), once on start after missed periods, thread and stateless runs.

The schedules are yearly ("0 0 1 1 *") and a test makes a cron due by setting its next_run_date in the
database: the firing then happens on the next scheduler pass, and the next date is a year away, so a second
firing could only come from a double claim, never from the clock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.waiting import eventually

YEARLY = "0 0 1 1 *"
POLL_S = 0.2
# After a firing, both replicas' schedulers get this long (many passes each) to show a second one.
SETTLE_S = 1.5


@pytest.fixture(scope="module")
async def replicas() -> AsyncIterator[tuple[str, str, str]]:
    """(executing replica, API-only replica, DSN): both run the cron scheduler."""
    with fresh_database("handrail_crons") as dsn:
        async with AsyncExitStack() as stack:
            common = {"cron_poll_s": POLL_S, "stateless_thread_ttl_s": 0.5}
            worker_side = e2e_settings(dsn, workers=2, **common)
            api_side = e2e_settings(dsn, workers=0, **common)
            a = await stack.enter_async_context(serving(create_app(worker_side), port=worker_side.port))
            b = await stack.enter_async_context(serving(create_app(api_side), port=api_side.port))
            yield a, b, dsn


def client(url: str, who: str = "alice") -> Any:
    return get_client(url=url, api_key=KEYS[who])


async def make_due(dsn: str, cron_id: str, periods_ago: int = 0) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "UPDATE crons SET next_run_date = now() - make_interval(years => %s) - interval '1 second'"
            " WHERE cron_id = %s",
            (periods_ago, cron_id),
        )


async def runs_tagged(dsn: str, tag: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT run_id::text, thread_id::text, status FROM runs WHERE metadata @> %s::jsonb",
            (f'{{"tag": "{tag}"}}',),
        )
        return [{"run_id": r[0], "thread_id": r[1], "status": r[2]} for r in await cur.fetchall()]


async def thread_exists(dsn: str, thread_id: str) -> bool:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM threads WHERE thread_id = %s", (thread_id,))
        return await cur.fetchone() is not None


async def fired_once(dsn: str, tag: str) -> dict[str, Any]:
    """The single run the cron created, as last seen; fails if a second one appears meanwhile.

    Every run seen is remembered, since a stateless run's row goes with its thread soon after it ends.
    """
    seen: dict[str, dict[str, Any]] = {}

    async def look() -> bool:
        for run in await runs_tagged(dsn, tag):
            seen[run["run_id"]] = run
        return bool(seen) and all(r["status"] not in ("pending", "running") for r in seen.values())

    await eventually(look, within_s=30)
    async with asyncio.timeout(SETTLE_S + 1):
        for _ in range(int(SETTLE_S / 0.05)):
            await look()
            await asyncio.sleep(0.05)
    assert len(seen) == 1, seen
    return next(iter(seen.values()))


async def test_crons_are_created_searched_counted_updated_and_deleted(replicas):
    a, b, _ = replicas
    alice = client(b)
    tid = (await alice.threads.create())["thread_id"]

    stateless = await alice.crons.create("agent", schedule="*/5 * * * *", input=user("hi"), timezone="Europe/Paris")
    on_thread = await alice.crons.create_for_thread(tid, "agent", schedule=YEARLY, input=user("hi"))

    assert (await alice.http.get("/info"))["flags"]["crons"] is True
    assert stateless["thread_id"] is None and stateless["on_run_completed"] == "delete"
    assert stateless["timezone"] == "Europe/Paris" and stateless["enabled"] is True
    assert stateless["next_run_date"] is not None and stateless["payload"]["input"] == user("hi")
    assert on_thread["thread_id"] == tid and on_thread["user_id"] == "alice"
    found = await alice.crons.search(thread_id=tid)
    assert [c["cron_id"] for c in found] == [on_thread["cron_id"]]
    assert await alice.crons.count() == 2
    assert await alice.crons.count(thread_id=tid) == 1

    updated = await alice.crons.update(stateless["cron_id"], schedule="0 9 * * *", enabled=False)
    assert updated["schedule"] == "0 9 * * *" and updated["enabled"] is False
    nine = datetime.fromisoformat(updated["next_run_date"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (nine.hour, nine.minute) == (9, 0)  # read in the cron's zone
    assert await alice.crons.count() == 2
    assert [c["cron_id"] for c in await alice.crons.search(enabled=False)] == [stateless["cron_id"]]
    assert (await alice.http.get(f"/runs/crons/{stateless['cron_id']}"))["enabled"] is False

    await alice.crons.delete(stateless["cron_id"])
    assert await alice.crons.count() == 1
    await alice.threads.delete(tid)  # a thread's crons go with it
    assert await alice.crons.count() == 0


async def test_another_users_cron_is_not_found(replicas):
    _, b, _ = replicas
    cron = await client(b).crons.create("agent", schedule=YEARLY, input=user("hi"))
    bob = client(b, "bob")

    assert await bob.crons.count() == 0
    assert await bob.crons.search() == []
    with pytest.raises(NotFoundError):
        await bob.crons.update(cron["cron_id"], enabled=False)
    with pytest.raises(NotFoundError):
        await bob.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):
        await bob.http.get(f"/runs/crons/{cron['cron_id']}")
    alices_thread = (await client(b).threads.create())["thread_id"]
    with pytest.raises(NotFoundError):
        await bob.crons.create_for_thread(alices_thread, "agent", schedule=YEARLY, input=user("hi"))
    await client(b).crons.delete(cron["cron_id"])


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"schedule": "every monday"}, "invalid cron schedule 'every monday'"),
        ({"schedule": "61 * * * *"}, "invalid cron schedule '61 * * * *'"),
        ({"schedule": "0 0 30 2 *"}, "cron schedule '0 0 30 2 *' never fires"),
        ({"schedule": YEARLY, "timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
    ],
)
async def test_a_bad_schedule_or_timezone_is_a_422_saying_what_is_wrong(replicas, fields, said):
    _, b, _ = replicas
    alice = client(b)
    with pytest.raises(UnprocessableEntityError) as caught:
        await alice.crons.create("agent", input=user("hi"), **fields)
    assert said in caught.value.response.json()["detail"]
    cron = await alice.crons.create("agent", schedule=YEARLY, input=user("hi"))
    with pytest.raises(UnprocessableEntityError):
        await alice.crons.update(cron["cron_id"], **fields)
    await alice.crons.delete(cron["cron_id"])


async def test_a_due_cron_fires_once_across_two_replicas_on_its_thread(replicas):
    a, b, dsn = replicas
    alice = client(b)
    tid = (await alice.threads.create())["thread_id"]
    tag = uuid.uuid4().hex
    cron = await alice.crons.create_for_thread(
        tid, "agent", schedule=YEARLY, input=user("what is 6*7"), metadata={"tag": tag}
    )

    await make_due(dsn, cron["cron_id"])
    run = await fired_once(dsn, tag)

    assert run["thread_id"] == tid and run["status"] == "success"
    assert (await client(a).runs.get(tid, run["run_id"]))["status"] == "success"
    after = await alice.http.get(f"/runs/crons/{cron['cron_id']}")
    assert after["next_run_date"] == cron["next_run_date"]  # the next 1 January again, not due now


async def test_a_disabled_cron_does_not_fire(replicas):
    _, b, dsn = replicas
    alice = client(b)
    tag = uuid.uuid4().hex
    cron = await alice.crons.create("agent", schedule=YEARLY, input=user("hi"), metadata={"tag": tag}, enabled=False)

    await make_due(dsn, cron["cron_id"])
    await asyncio.sleep(SETTLE_S)

    assert await runs_tagged(dsn, tag) == []
    await alice.crons.delete(cron["cron_id"])


@pytest.mark.parametrize("keep", [False, True])
async def test_a_stateless_crons_thread_is_deleted_after_the_run_unless_kept(replicas, keep):
    _, b, dsn = replicas
    tag = uuid.uuid4().hex
    extra = {"on_run_completed": "keep"} if keep else {}
    cron = await client(b).crons.create(
        "agent", schedule=YEARLY, input=user("what is 6*7"), metadata={"tag": tag}, **extra
    )
    assert cron["on_run_completed"] == ("keep" if keep else "delete")

    await make_due(dsn, cron["cron_id"])
    run = await fired_once(dsn, tag)

    assert run["status"] == "success"
    if keep:
        await asyncio.sleep(SETTLE_S)  # three stateless TTLs
        assert await thread_exists(dsn, run["thread_id"])
    else:
        await eventually(lambda: _gone(dsn, run["thread_id"]), within_s=20)


async def _gone(dsn: str, thread_id: str) -> bool:
    return not await thread_exists(dsn, thread_id)


async def test_a_cron_missed_for_several_periods_while_down_fires_once_on_start():
    with fresh_database("handrail_crons_restart") as dsn:
        settings = e2e_settings(dsn, workers=2, cron_poll_s=POLL_S)
        tag = uuid.uuid4().hex
        async with serving(create_app(settings), port=settings.port) as url:
            cron = await client(url).crons.create("agent", schedule=YEARLY, input=user("hi"), metadata={"tag": tag})

        await make_due(dsn, cron["cron_id"], periods_ago=3)  # three yearly firings missed while stopped
        assert await runs_tagged(dsn, tag) == []

        async with serving(create_app(settings), port=settings.port) as url:
            run = await fired_once(dsn, tag)
            after = await client(url).http.get(f"/runs/crons/{cron['cron_id']}")

        assert run["status"] == "success"
        assert after["next_run_date"] == cron["next_run_date"]  # the next one to come, not a missed one


async def threads_made_since(dsn: str, since: object) -> int:
    """Threads created after `since` (not all threads: earlier tests' stateless threads are deleted meanwhile)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        row = await (await conn.execute("SELECT count(*) FROM threads WHERE created_at >= %s", (since,))).fetchone()
        assert row is not None
        return int(row[0])


async def db_now(dsn: str) -> object:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        row = await (await conn.execute("SELECT clock_timestamp()")).fetchone()
        assert row is not None
        return row[0]


async def test_a_firing_whose_date_cannot_advance_commits_no_run(replicas):
    """The run (and a stateless cron's thread) and the next date commit together: when advancing the date
    fails, no run is left behind, however many passes retry it; once it can advance, the cron fires once."""
    _, b, dsn = replicas
    tag = uuid.uuid4().hex
    cron = await client(b).crons.create("agent", schedule=YEARLY, input=user("what is 6*7"), metadata={"tag": tag})
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "CREATE OR REPLACE FUNCTION refuse_cron_advance() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'next_run_date of cron % may not advance', OLD.cron_id; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER refuse_cron_advance BEFORE UPDATE ON crons FOR EACH ROW"
            f" WHEN (OLD.cron_id = '{cron['cron_id']}' AND NEW.next_run_date > now())"
            " EXECUTE FUNCTION refuse_cron_advance()"
        )
    try:
        since = await db_now(dsn)
        await make_due(dsn, cron["cron_id"])
        await asyncio.sleep(SETTLE_S)  # several passes of both schedulers, each failing to advance the date

        assert await runs_tagged(dsn, tag) == []
        assert await threads_made_since(dsn, since) == 0
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute("DROP TRIGGER refuse_cron_advance ON crons")
    run = await fired_once(dsn, tag)
    assert run["status"] == "success"


async def test_a_firing_whose_run_cannot_be_created_still_advances_the_date(replicas, caplog):
    _, b, dsn = replicas
    alice = client(b)
    tag = uuid.uuid4().hex
    assistant = await alice.assistants.create("agent")
    cron = await alice.crons.create(assistant["assistant_id"], schedule=YEARLY, input=user("hi"), metadata={"tag": tag})
    await alice.assistants.delete(assistant["assistant_id"])

    await make_due(dsn, cron["cron_id"])

    async def advanced() -> bool:
        row = await alice.http.get(f"/runs/crons/{cron['cron_id']}")
        return bool(row["next_run_date"] == cron["next_run_date"])

    await eventually(advanced, within_s=10)
    assert await runs_tagged(dsn, tag) == []
    failed = [r for r in caplog.records if r.getMessage() == "cron.fire_failed"]
    assert any(getattr(r, "cron_id", None) == cron["cron_id"] for r in failed)
    await alice.crons.delete(cron["cron_id"])
