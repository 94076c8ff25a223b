"""What users and the whole service spend on models, and the two budgets that refuse new runs on it:
USER_DAILY_BUDGET_USD (per user per UTC day, 429) and GLOBAL_HOURLY_BUDGET_USD (the service per UTC hour, 503).

Postgres (`spend_daily`, `spend_hourly`, migration 0010) is the record: every `add` writes both rows in one
statement. Redis, when set, caches the two counters so that every replica reads the same figures without a
query: an `add` increments a cached counter only if it exists (a Lua script), so a counter Redis lost (a
restart, an eviction) is re-seeded from Postgres on the next read instead of restarting from 0. Cached
counters expire after CACHE_TTL_S, so the cache re-converges with the record even after a missed increment.
Redis down: reads come from Postgres (never "unlimited"), increments are skipped (the record has them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from guardrails.verdict import Verdict
from handrail.db import Pool
from handrail.errors import SpendBreakerOpen, UserBudgetExceeded
from handrail.metrics import Metrics
from handrail.ratelimit import REDIS_FAILURES, RedisOutage
from handrail.settings import Settings

CACHE_TTL_S = 60

# One statement, so the user's day and the service's hour move together or not at all.
_ADD = """
WITH daily AS (
    INSERT INTO spend_daily AS d (user_id, day, usd) VALUES (%(user_id)s, %(day)s, %(usd)s)
    ON CONFLICT (user_id, day) DO UPDATE SET usd = d.usd + EXCLUDED.usd
)
INSERT INTO spend_hourly AS h (hour, usd) VALUES (%(hour)s, %(usd)s)
ON CONFLICT (hour) DO UPDATE SET usd = h.usd + EXCLUDED.usd
"""
_USER_DAY = "SELECT usd FROM spend_daily WHERE user_id = %(user_id)s AND day = %(day)s"
_HOUR = "SELECT usd - reset_usd AS usd FROM spend_hourly WHERE hour = %(hour)s"
_HOUR_RECORD = "SELECT hour, usd, reset_usd, reset_by, reset_at FROM spend_hourly WHERE hour = %(hour)s"
_RESET = """
INSERT INTO spend_hourly AS h (hour, reset_by, reset_at) VALUES (%(hour)s, %(by)s, now())
ON CONFLICT (hour) DO UPDATE SET reset_usd = h.usd, reset_by = EXCLUDED.reset_by, reset_at = EXCLUDED.reset_at
"""
# Increment each cached counter that exists; a missing one stays missing, to be re-seeded from Postgres.
_INCR_IF_CACHED = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBYFLOAT', key, ARGV[1])
  end
end
return 0
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class SpendLedger:
    """USD spent per user per UTC day and by everyone per UTC hour (after admin resets)."""

    def __init__(
        self,
        pool: Pool,
        redis: Any | None,
        prefix: str,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._pool, self._redis, self._prefix, self._metrics, self.clock = pool, redis, prefix, metrics, clock
        self._incr = redis.register_script(_INCR_IF_CACHED) if redis is not None else None
        self._outage = RedisOutage("spend")

    def user_key(self, user_id: str, day: date) -> str:
        return f"{self._prefix}spend:user:{day.isoformat()}:{user_id}"

    def hour_key(self, hour: datetime) -> str:
        return f"{self._prefix}spend:hour:{hour_of(hour):%Y-%m-%dT%H}"

    async def add(self, user_id: str, usd: float) -> None:
        """Record `usd` spent by `user_id` now. Nothing to do for a call that cost nothing (the offline model)."""
        if usd <= 0:
            return
        now = self.clock()
        day, hour = now.astimezone(UTC).date(), hour_of(now)
        amount = Decimal(repr(usd))
        async with self._pool.connection() as conn:
            await conn.execute(_ADD, {"user_id": user_id, "day": day, "hour": hour, "usd": amount})
        if self._incr is not None and self._outage.usable():
            try:
                await self._incr(keys=[self.user_key(user_id, day), self.hour_key(hour)], args=[str(amount)])
            except REDIS_FAILURES as exc:  # the record has it; the cached counter expires and is re-read
                self._outage.failed(exc, fallback="postgres")
            else:
                self._outage.succeeded()

    async def user_today(self, user_id: str) -> float:
        """What `user_id` spent this UTC day."""
        day = self.clock().astimezone(UTC).date()
        return await self._read(self.user_key(user_id, day), _USER_DAY, {"user_id": user_id, "day": day})

    async def hour_total(self) -> float:
        """What everyone spent this UTC hour, less what was spent before its last reset."""
        hour = hour_of(self.clock())
        return await self._read(self.hour_key(hour), _HOUR, {"hour": hour})

    async def hour_record(self) -> dict[str, Any]:
        """This hour's row as recorded: spend, the part reset, who reset it and when."""
        hour = hour_of(self.clock())
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_HOUR_RECORD, {"hour": hour})).fetchone()
        return dict(row) if row else {"hour": hour, "usd": 0, "reset_usd": 0, "reset_by": None, "reset_at": None}

    async def reset_hour(self, by: str) -> None:
        """Restart this hour's effective total at 0 (the spend stays on record, with who reset it)."""
        hour = hour_of(self.clock())
        async with self._pool.connection() as conn:
            await conn.execute(_RESET, {"hour": hour, "by": by})
        if self._redis is not None:
            try:  # the next read re-seeds from the record; not usable() here: a stale breaker must not linger
                await self._redis.delete(self.hour_key(hour))
            except REDIS_FAILURES as exc:
                self._outage.failed(exc, fallback="postgres")

    def refused(self, budget: str) -> None:
        if self._metrics is not None:
            self._metrics.budget_refusals.labels(budget).inc()

    async def _read(self, key: str, query: str, params: dict[str, Any]) -> float:
        if self._redis is None or not self._outage.usable():
            return float(await self._recorded(query, params))
        try:
            cached = await self._redis.get(key)
        except REDIS_FAILURES as exc:
            self._outage.failed(exc, fallback="postgres")
            return float(await self._recorded(query, params))
        self._outage.succeeded()
        if cached is not None:
            return float(cached)
        recorded = await self._recorded(query, params)
        try:  # NX: a counter another replica seeded meanwhile, and incremented since, wins
            await self._redis.set(key, str(recorded), nx=True, ex=CACHE_TTL_S)
        except REDIS_FAILURES as exc:
            self._outage.failed(exc, fallback="postgres")
        return float(recorded)

    async def _recorded(self, query: str, params: dict[str, Any]) -> Decimal:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(query, params)).fetchone()
        return Decimal(row["usd"]) if row else Decimal(0)


async def admit_run(ledger: SpendLedger, settings: Settings, user_id: str) -> None:
    """Refuse a new run of `user_id` when their day's budget or the service's hourly breaker is spent.
    Reads nothing when both budgets are off (0)."""
    if settings.user_daily_budget_usd > 0:
        limit = settings.user_daily_budget_usd
        spent = await ledger.user_today(user_id)
        if spent >= limit:
            now = ledger.clock().astimezone(UTC)
            resets = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            wait = (resets - now).total_seconds()
            ledger.refused("user_daily")
            raise UserBudgetExceeded(
                f"budget.user_daily: user {user_id} has spent ${spent:.4f} of the daily budget of ${limit:g} "
                f"(USER_DAILY_BUDGET_USD) today (UTC); new runs are refused until it resets at {_iso(resets)} "
                f"(in {math.ceil(wait)} s); ask an operator to raise USER_DAILY_BUDGET_USD if this is expected",
                wait,
                _refusal("user_daily", "USER_DAILY_BUDGET_USD", spent, limit, resets, wait),
            )
    if settings.global_hourly_budget_usd > 0:
        limit = settings.global_hourly_budget_usd
        total = await ledger.hour_total()
        if total >= limit:
            now = ledger.clock().astimezone(UTC)
            resets = hour_of(now) + timedelta(hours=1)
            wait = (resets - now).total_seconds()
            ledger.refused("global_hourly")
            raise SpendBreakerOpen(
                f"budget.global_hourly: the service has spent ${total:.4f} of its hourly budget of ${limit:g} "
                f"(GLOBAL_HOURLY_BUDGET_USD) this hour (UTC); no new runs for anyone until it resets at "
                f"{_iso(resets)} (in {math.ceil(wait)} s) or an admin calls POST /admin/spend/reset",
                wait,
                _refusal("global_hourly", "GLOBAL_HOURLY_BUDGET_USD", total, limit, resets, wait),
            )


async def spend_report(ledger: SpendLedger, settings: Settings) -> dict[str, Any]:
    """GET /admin/spend: this hour's effective total and record, and the limits in force."""
    record = await ledger.hour_record()
    return {
        "hour": _iso(record["hour"]),
        "hour_total_usd": await ledger.hour_total(),
        "hour_recorded_usd": float(record["usd"]),
        "reset_usd": float(record["reset_usd"]),
        "reset_by": record["reset_by"],
        "reset_at": _iso(record["reset_at"]) if record["reset_at"] else None,
        "limits": {
            "GLOBAL_HOURLY_BUDGET_USD": settings.global_hourly_budget_usd,
            "USER_DAILY_BUDGET_USD": settings.user_daily_budget_usd,
            "RATE_LIMIT_PER_MINUTE": settings.rate_limit_per_minute,
        },
    }


def _refusal(budget: str, setting: str, spent: float, limit: float, resets: datetime, wait: float) -> dict[str, Any]:
    return {
        "guardrail": f"budget.{budget}",
        "blocked": True,
        "budget": budget,
        "spent_usd": round(spent, 6),
        "limit_usd": limit,
        "setting": setting,
        "resets_at": _iso(resets),
        "retry_after_s": math.ceil(wait),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DailySpendGate:
    """The user's daily budget inside a run (graph.context.SpendGate), checked before each model call: a
    run admitted just under the budget stops once the day's spend reaches it, with the partial result.
    The hourly breaker only refuses new runs, as its contract says; runs already going may finish."""

    def __init__(self, ledger: SpendLedger, limit_usd: float) -> None:
        self._ledger, self._limit = ledger, limit_usd

    async def refusal(self, user_id: str) -> Verdict | None:
        spent = await self._ledger.user_today(user_id)
        if spent < self._limit:
            return None
        return Verdict.block(
            "budget",
            "user_daily",
            f"budget reached: ${spent:.4f} of today's budget of ${self._limit:g} per user (USER_DAILY_BUDGET_USD) "
            "is spent, so no further model call was made",
        )
