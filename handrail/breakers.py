"""The models' circuit breakers, shared by every replica: in Redis when REDIS_URL is set, in Postgres
(`model_breakers`, migration 0011) when it is not or while Redis is down. The state machine and the
in-process snapshot that keeps the hot path cheap are llm/breaker.py's; this module only stores.

Each store makes every change in one atomic step on its own clock (a Lua script on Redis's TIME, one SQL
statement on Postgres's now()), so two replicas failing at once count two failures and only one of them
wins the half-open probe. While Redis is down the Postgres copy is used (logged once, `redis.unavailable`);
the two copies are not reconciled when Redis comes back: at worst a breaker opened during the outage
is seen closed again, and re-opens after BREAKER_FAILURES more failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from handrail.db import Pool
from handrail.metrics import Metrics
from handrail.ratelimit import REDIS_FAILURES, RedisOutage
from handrail.settings import Settings
from llm.breaker import Breakers, BreakerState, BreakerStore

T = TypeVar("T")
KEY_TTL_S = 86400  # a model nobody has called for a day starts again from closed

# KEYS[1] the breaker; ARGV threshold, reset_s, ttl. Fields: f failures, o opened_at, p probe_until (epoch s).
_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
local o = redis.call('HGET', KEYS[1], 'o')
if not o then
  if f >= tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'o', tostring(now)) end
elseif now >= tonumber(o) + tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'o', tostring(now))
  redis.call('HDEL', KEYS[1], 'p')
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HMGET', KEYS[1], 'f', 'o', 'p')
"""
# KEYS[1] the breaker; ARGV reset_s, lease_s. 1 for the one caller that may probe.
_CLAIM_PROBE = """
local o = redis.call('HGET', KEYS[1], 'o')
if not o then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if now < tonumber(o) + tonumber(ARGV[1]) then return 0 end
local p = redis.call('HGET', KEYS[1], 'p')
if p and tonumber(p) > now then return 0 end
redis.call('HSET', KEYS[1], 'p', tostring(now + tonumber(ARGV[2])))
return 1
"""

_COLUMNS = "failures, extract(epoch FROM opened_at) AS opened_at, extract(epoch FROM probe_until) AS probe_until"
_PG_READ = f"SELECT model, {_COLUMNS} FROM model_breakers WHERE model = ANY(%(models)s)"
# Every SET expression reads the row as it was (b.*): the same transitions as the Lua script above.
_PG_FAILED = f"""
INSERT INTO model_breakers AS b (model, failures, opened_at)
VALUES (%(model)s, 1, CASE WHEN 1 >= %(threshold)s THEN now() END)
ON CONFLICT (model) DO UPDATE SET
  failures = b.failures + 1,
  opened_at = CASE
    WHEN b.opened_at IS NULL THEN CASE WHEN b.failures + 1 >= %(threshold)s THEN now() END
    WHEN now() >= b.opened_at + make_interval(secs => %(reset_s)s) THEN now()
    ELSE b.opened_at END,
  probe_until = CASE
    WHEN b.opened_at IS NOT NULL AND now() >= b.opened_at + make_interval(secs => %(reset_s)s) THEN NULL
    ELSE b.probe_until END,
  updated_at = now()
RETURNING {_COLUMNS}
"""
_PG_CLAIM_PROBE = """
UPDATE model_breakers SET probe_until = now() + make_interval(secs => %(lease_s)s), updated_at = now()
WHERE model = %(model)s AND opened_at IS NOT NULL AND now() >= opened_at + make_interval(secs => %(reset_s)s)
  AND (probe_until IS NULL OR probe_until <= now())
RETURNING model
"""
_PG_SUCCEEDED = "DELETE FROM model_breakers WHERE model = %(model)s"


class RedisStore:
    kind = "redis"

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis, self._prefix = redis, prefix
        self._failed = redis.register_script(_FAILED)
        self._claim = redis.register_script(_CLAIM_PROBE)

    def key(self, model: str) -> str:
        return f"{self._prefix}model_breaker:{model}"

    async def read(self, keys: Sequence[str]) -> dict[str, BreakerState]:
        if not keys:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for model in keys:
                pipe.hmget(self.key(model), "f", "o", "p")
            rows = await pipe.execute()
        return {model: _state(*row) for model, row in zip(keys, rows, strict=True) if row[0] is not None}

    async def failed(self, key: str, *, threshold: int, reset_s: float) -> BreakerState:
        row = await self._failed(keys=[self.key(key)], args=[threshold, reset_s, KEY_TTL_S])
        return _state(*row)

    async def succeeded(self, key: str) -> None:
        await self._redis.delete(self.key(key))

    async def claim_probe(self, key: str, *, reset_s: float, lease_s: float) -> bool:
        return bool(await self._claim(keys=[self.key(key)], args=[reset_s, lease_s]))


class PostgresStore:
    kind = "postgres"

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def read(self, keys: Sequence[str]) -> dict[str, BreakerState]:
        if not keys:
            return {}
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_PG_READ, {"models": list(keys)})).fetchall()
        return {r["model"]: _state(r["failures"], r["opened_at"], r["probe_until"]) for r in rows}

    async def failed(self, key: str, *, threshold: int, reset_s: float) -> BreakerState:
        params = {"model": key, "threshold": threshold, "reset_s": reset_s}
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_PG_FAILED, params)).fetchone()
        assert row is not None  # an upsert always returns its row
        return _state(row["failures"], row["opened_at"], row["probe_until"])

    async def succeeded(self, key: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_PG_SUCCEEDED, {"model": key})

    async def claim_probe(self, key: str, *, reset_s: float, lease_s: float) -> bool:
        params = {"model": key, "reset_s": reset_s, "lease_s": lease_s}
        async with self._pool.connection() as conn:
            return await (await conn.execute(_PG_CLAIM_PROBE, params)).fetchone() is not None


class SharedStore:
    """Redis when it answers, else Postgres; the Postgres copy alone when there is no Redis."""

    def __init__(self, pool: Pool, redis: Any | None, prefix: str) -> None:
        self.postgres = PostgresStore(pool)
        self.redis = RedisStore(redis, prefix) if redis is not None else None
        self._outage = RedisOutage("model_breakers")

    @property
    def kind(self) -> str:
        return "redis" if self.redis is not None and self._outage.usable() else "postgres"

    async def read(self, keys: Sequence[str]) -> dict[str, BreakerState]:
        return await self._either(lambda s: s.read(keys))

    async def failed(self, key: str, *, threshold: int, reset_s: float) -> BreakerState:
        return await self._either(lambda s: s.failed(key, threshold=threshold, reset_s=reset_s))

    async def succeeded(self, key: str) -> None:
        await self._either(lambda s: s.succeeded(key))

    async def claim_probe(self, key: str, *, reset_s: float, lease_s: float) -> bool:
        return await self._either(lambda s: s.claim_probe(key, reset_s=reset_s, lease_s=lease_s))

    async def _either(self, operation: Callable[[BreakerStore], Awaitable[T]]) -> T:
        if self.redis is not None and self._outage.usable():
            try:
                result = await operation(self.redis)
            except REDIS_FAILURES as exc:
                self._outage.failed(exc, fallback="postgres")
            else:
                self._outage.succeeded()
                return result
        return await operation(self.postgres)


def shared_breakers(
    settings: Settings,
    pool: Pool,
    redis: Any | None,
    *,
    models: Sequence[str] = (),
    metrics: Metrics | None = None,
) -> Breakers:
    """The service's breakers (BREAKER_FAILURES, BREAKER_RESET_S, BREAKER_REFRESH_S), following `models`
    from the start; the transitions this process makes are counted, and the gauge shows what it sees open."""
    m = metrics
    breakers = Breakers(
        SharedStore(pool, redis, settings.redis_prefix),
        failures=settings.breaker_failures,
        reset_s=settings.breaker_reset_s,
        refresh_s=settings.breaker_refresh_s,
        on_change=(lambda model, state: m.model_breaker_transitions.labels(model, state).inc()) if m else None,
        on_seen=(lambda model, is_open: m.model_breaker_open.labels(model).set(int(is_open))) if m else None,
    )
    breakers.watch(models)
    return breakers


def _state(failures: Any, opened_at: Any, probe_until: Any) -> BreakerState:
    return BreakerState(
        failures=int(failures or 0),
        opened_at=float(opened_at) if opened_at is not None else None,
        probe_until=float(probe_until) if probe_until is not None else None,
    )
