"""The per-user request rate limit: at most RATE_LIMIT_PER_MINUTE requests in any sliding 60 s window.

With Redis (REDIS_URL), the window is a sorted set per user, shared by every process and replica: one Lua
script trims what left the window, counts and adds the request, atomically and on Redis's own clock (so
replicas with skewed clocks agree). A sorted set rather than the two-bucket approximation: the count is
exact, so the limit never lets a burst through at a bucket boundary nor refuses early, and `Retry-After`
is the true time until the oldest request leaves the window; it costs one entry per admitted request,
which the limit itself bounds (a refused request is not added, so a client that keeps knocking is not
locked out for longer).

Without Redis, or while Redis is down, each process keeps its own window in memory: **the limit is then
per process** (N server processes let one user make up to N × the limit). A Redis outage never turns the
limit off and never fails a request: it is logged once, and the in-process window answers until Redis
is back.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.errors import RateLimited
from handrail.metrics import Metrics

logger = logging.getLogger("handrail.ratelimit")

WINDOW_S = 60.0
REDIS_RETRY_S = 5.0  # after a Redis error, the fallback answers this long before Redis is tried again
STATE_KEY = "rate_limit"  # where the request's decision waits for RateLimitHeaders (request.state)
# What a failing Redis raises: its own errors, or the socket's.
REDIS_FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

# KEYS[1] the user's window; ARGV: window (µs), limit, a member unique to this request.
# Returns {admitted (0/1), requests in the window, µs until the oldest leaves it}.
_SLIDING_WINDOW = """
local key = KEYS[1]
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local admitted = 0
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  count = count + 1
  admitted = 1
end
redis.call('PEXPIRE', key, math.ceil(window / 1000))
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {admitted, count, reset}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    """Seconds until the oldest request in the window leaves it, i.e. until one more slot frees."""
    backend: str  # "redis" or "local"

    def headers(self) -> dict[str, str]:
        """X-RateLimit-Reset is in seconds from now (as Retry-After and the IETF RateLimit-Reset), not an epoch."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_s)),
        }


class RedisOutage:
    """What a Redis-backed component remembers about Redis failing: one warning per outage (and one line when
    it is back), and a pause of `retry_s` before Redis is tried again, so an outage does not add a connect
    attempt to every request."""

    def __init__(self, component: str, retry_s: float = REDIS_RETRY_S, clock: Callable[[], float] = time.monotonic):
        self._component, self._retry_s, self._clock = component, retry_s, clock
        self._down = False
        self._retry_at = 0.0

    def usable(self) -> bool:
        return self._clock() >= self._retry_at

    def failed(self, exc: BaseException, fallback: str) -> None:
        self._retry_at = self._clock() + self._retry_s
        if not self._down:
            self._down = True
            logger.warning(
                "redis.unavailable",
                extra={"component": self._component, "fallback": fallback, "error": type(exc).__name__},
                exc_info=exc,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            logger.info("redis.recovered", extra={"component": self._component})


class LocalWindow:
    """A sliding window per key in this process's memory: the fallback, and the only window without Redis."""

    def __init__(self, limit: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit, self._window_s, self._clock = limit, window_s, clock
        self._hits: dict[str, deque[float]] = {}
        self._sweep_at = 1024  # forget idle keys when this many are held, so memory follows active users

    def hit(self, key: str) -> RateDecision:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window_s:
            hits.popleft()
        allowed = len(hits) < self._limit
        if allowed:
            hits.append(now)
        if len(self._hits) >= self._sweep_at:
            self._sweep(now)
        reset = hits[0] + self._window_s - now if hits else 0.0
        return RateDecision(allowed, self._limit, self._limit - len(hits), reset, "local")

    def __len__(self) -> int:
        """Users held in memory."""
        return len(self._hits)

    def _sweep(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self._window_s]:
            del self._hits[key]
        self._sweep_at = max(1024, 2 * len(self._hits))


class RateLimiter:
    """RATE_LIMIT_PER_MINUTE per user; `admit` raises RateLimited (429) when the window is full. Off at 0."""

    def __init__(
        self,
        limit_per_minute: int,
        redis: Any | None,
        prefix: str,
        *,
        metrics: Metrics | None = None,
        window_s: float = WINDOW_S,
    ) -> None:
        self.limit = limit_per_minute
        self._redis, self._prefix, self._metrics, self._window_s = redis, prefix, metrics, window_s
        self._local = LocalWindow(limit_per_minute, window_s)
        self._outage = RedisOutage("ratelimit")
        self._script = redis.register_script(_SLIDING_WINDOW) if redis is not None else None
        self._members = itertools.count()
        self._member_prefix = f"{os.getpid()}-{os.urandom(4).hex()}-"

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def hit(self, user_id: str) -> RateDecision | None:
        """Count one request of `user_id`; None when the limit is off."""
        if not self.enabled:
            return None
        if self._script is not None and self._outage.usable():
            try:
                admitted, count, reset_us = await self._script(
                    keys=[f"{self._prefix}ratelimit:{user_id}"],
                    args=[int(self._window_s * 1_000_000), self.limit, f"{self._member_prefix}{next(self._members)}"],
                )
            except REDIS_FAILURES as exc:
                self._outage.failed(exc, fallback="per-process window")
            else:
                self._outage.succeeded()
                return RateDecision(
                    bool(admitted), self.limit, max(0, self.limit - int(count)), reset_us / 1e6, "redis"
                )
        return self._local.hit(user_id)

    async def admit(self, user_id: str) -> RateDecision | None:
        """Count one request; raise RateLimited (429, Retry-After and X-RateLimit-*) when over the limit."""
        decision = await self.hit(user_id)
        if decision is None or decision.allowed:
            return decision
        if self._metrics is not None:
            self._metrics.rate_limited.labels(decision.backend).inc()
        wait = max(decision.reset_s, 0.001)
        raise RateLimited(
            f"rate limit reached: {self.limit} requests per minute per user (RATE_LIMIT_PER_MINUTE); "
            f"retry in {math.ceil(wait)} s",
            wait,
            headers=decision.headers(),
        )


class RateLimitHeaders:
    """Adds X-RateLimit-* to every response of a request the limiter counted (the decision is left in
    `request.state`). Pure ASGI, so streamed and `Response`-returning routes get them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            decision = scope.get("state", {}).get(STATE_KEY) if message["type"] == "http.response.start" else None
            if isinstance(decision, RateDecision):
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in decision.headers().items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
