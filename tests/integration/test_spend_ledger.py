"""The spend ledger against the real Postgres and Redis: Postgres is the record, Redis a shared cache that
is re-seeded from it, and no Redis failure ever reads as "nothing spent"."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import redis.asyncio as aioredis

from handrail.errors import SpendBreakerOpen, UserBudgetExceeded
from handrail.settings import Settings
from handrail.spend import SpendLedger, admit_run
from tests.support.http import free_port

# Each test gets its own UTC hour, years before any real run of the session's e2e servers writes to "now".
_HOURS = itertools.count()


class Clock:
    """The ledger's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2001, 1, 1, 0, 30, tzinfo=UTC) + timedelta(hours=next(_HOURS)))


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ledger(pool: Any, redis_client: Any, prefix: str, clock: Clock) -> SpendLedger:
    return SpendLedger(pool, redis_client, prefix, clock=clock)


@pytest.fixture
async def dead_redis() -> AsyncIterator[Any]:
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    yield client
    await client.aclose()


async def test_spend_reads_back_the_same_through_redis_and_through_postgres_alone(
    pool, ledger, clock, user, redis_client
):
    postgres_only = SpendLedger(pool, None, "unused:", clock=clock)

    await ledger.add(user, 0.25)
    await postgres_only.add(user, 0.5)

    assert await ledger.user_today(user) == pytest.approx(0.75)
    assert await postgres_only.user_today(user) == pytest.approx(0.75)
    assert await ledger.hour_total() == pytest.approx(0.75)
    assert await postgres_only.hour_total() == pytest.approx(0.75)
    assert float(await redis_client.get(ledger.user_key(user, clock.now.date()))) == pytest.approx(0.75)


async def test_nothing_is_written_for_a_call_that_cost_nothing(pool, ledger, user):
    await ledger.add(user, 0.0)

    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM spend_daily WHERE user_id = %s", (user,))).fetchone()
    assert row["n"] == 0


async def test_two_replicas_share_the_counters(pool, redis_client, prefix, clock, user):
    a = SpendLedger(pool, redis_client, prefix, clock=clock)
    b = SpendLedger(pool, redis_client, prefix, clock=clock)
    assert await b.user_today(user) == 0  # b's read seeds the shared counter

    await a.add(user, 1.5)
    await a.add(user, 0.5)

    assert await b.user_today(user) == pytest.approx(2.0)
    assert await b.hour_total() == pytest.approx(2.0)
    assert float(await redis_client.get(b.user_key(user, clock.now.date()))) == pytest.approx(2.0), (
        "b read the counter a incremented, not Postgres"
    )


async def test_a_counter_redis_lost_is_reseeded_from_postgres_not_undercounted(ledger, redis_client, clock, user):
    await ledger.add(user, 2.0)
    assert await ledger.user_today(user) == pytest.approx(2.0)  # cached now
    await redis_client.delete(ledger.user_key(user, clock.now.date()), ledger.hour_key(clock.now))  # a restart

    await ledger.add(user, 1.0)  # the counter is missing: not recreated at 1.0

    assert await redis_client.get(ledger.user_key(user, clock.now.date())) is None
    assert await ledger.user_today(user) == pytest.approx(3.0)
    assert await ledger.hour_total() == pytest.approx(3.0)
    assert float(await redis_client.get(ledger.user_key(user, clock.now.date()))) == pytest.approx(3.0)
    assert 0 < await redis_client.ttl(ledger.user_key(user, clock.now.date())) <= 60, "the cache re-converges"


async def test_with_redis_unreachable_the_record_is_read_never_zero(pool, ledger, dead_redis, prefix, clock, user):
    await ledger.add(user, 4.0)
    cut_off = SpendLedger(pool, dead_redis, prefix, clock=clock)

    await cut_off.add(user, 1.0)  # recorded in Postgres; the Redis error is not the caller's problem

    assert await cut_off.user_today(user) == pytest.approx(5.0)
    assert await cut_off.hour_total() == pytest.approx(5.0)
    with pytest.raises(UserBudgetExceeded):
        await admit_run(cut_off, Settings(user_daily_budget_usd=5.0), user)


async def test_a_reset_restarts_the_hour_at_zero_on_every_replica_and_keeps_the_record(
    pool, redis_client, prefix, clock, user
):
    a = SpendLedger(pool, redis_client, prefix, clock=clock)
    b = SpendLedger(pool, redis_client, prefix, clock=clock)
    await a.add(user, 5.0)
    assert await b.hour_total() == pytest.approx(5.0)

    await a.reset_hour(by="ops")
    assert await b.hour_total() == 0
    await b.add(user, 1.0)

    assert await a.hour_total() == pytest.approx(1.0)
    record = await a.hour_record()
    assert (float(record["usd"]), float(record["reset_usd"]), record["reset_by"]) == (6.0, 5.0, "ops")
    assert await a.user_today(user) == pytest.approx(6.0), "a reset of the hour leaves users' days alone"


async def test_days_and_hours_are_counted_in_utc(pool, ledger, redis_client, clock, user):
    day = clock.now.date()
    clock.now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23, minutes=59)
    await ledger.add(user, 1.0)
    # 00:30 the next day in UTC, given in UTC+02:00: a new day and a new hour
    clock.now = (clock.now + timedelta(minutes=31)).astimezone(timezone(timedelta(hours=2)))
    assert await ledger.user_today(user) == 0
    assert await ledger.hour_total() == 0
    await ledger.add(user, 2.0)

    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT day, usd FROM spend_daily WHERE user_id = %s ORDER BY day", (user,))
        ).fetchall()
    assert [(r["day"], float(r["usd"])) for r in rows] == [(day, 1.0), (day + timedelta(days=1), 2.0)]
    assert ledger.user_key(user, day + timedelta(days=1)).endswith(f"{day + timedelta(days=1)}:{user}")
    assert ledger.hour_key(clock.now).endswith(f"{day + timedelta(days=1)}T00")
    assert await redis_client.exists(ledger.hour_key(clock.now.astimezone(UTC))) == 1


async def test_budgets_that_are_off_read_nothing(user):
    no_store = SpendLedger(None, None, "unused:")  # type: ignore[arg-type]  # any read would fail

    await admit_run(no_store, Settings(), user)


async def test_an_overspent_user_is_refused_until_utc_midnight(ledger, clock, user):
    clock.now = clock.now.replace(hour=22, minute=0, second=0)
    await ledger.add(user, 3.0)

    with pytest.raises(UserBudgetExceeded) as refused:
        await admit_run(ledger, Settings(user_daily_budget_usd=3.0), user)

    assert refused.value.retry_after == 2 * 3600
    assert refused.value.headers == {"Retry-After": "7200"}
    extra = refused.value.body_extra or {}
    assert extra["guardrail"] == "budget.user_daily" and extra["blocked"] is True
    assert (extra["spent_usd"], extra["limit_usd"], extra["setting"]) == (3.0, 3.0, "USER_DAILY_BUDGET_USD")
    assert extra["resets_at"] == f"{clock.now.date() + timedelta(days=1)}T00:00:00Z"
    await admit_run(ledger, Settings(user_daily_budget_usd=3.01), f"{user}-other")  # under: admitted


async def test_the_hourly_breaker_refuses_everyone_until_the_next_hour(ledger, clock, user):
    clock.now = clock.now.replace(minute=45, second=0)
    await ledger.add(user, 10.0)

    with pytest.raises(SpendBreakerOpen) as refused:
        await admit_run(ledger, Settings(global_hourly_budget_usd=10.0), "someone-else")

    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "900"}
    extra = refused.value.body_extra or {}
    assert extra["guardrail"] == "budget.global_hourly" and extra["setting"] == "GLOBAL_HOURLY_BUDGET_USD"
    assert "POST /admin/spend/reset" in str(refused.value)
