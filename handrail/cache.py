"""LangGraph's cache interface (`BaseCache`) on the async Redis client, for tool results (tools/cache.py says
what is cached and why at the tool call rather than as a node `CachePolicy`); it works as a node cache too.

The stock `langgraph.cache.redis.RedisCache` calls a synchronous client, which blocks the event loop on every
lookup, and swallows every error without a trace. This one awaits `redis.asyncio` under a short timeout, and
an outage is visible but never an error: a lookup answers "nothing cached" and a write is dropped, the
outage is logged once (`redis.unavailable`, component `tool_cache`) with one line when Redis is back,
Redis is left alone for `REDIS_RETRY_S` between tries (`handrail.ratelimit.RedisOutage`, as the rate
limiter does), and `cache_degraded()` says why, for `/ok` and for the `skipped` count. Without REDIS_URL
the service has no tool cache at all: an in-process one would serve each replica different answers, and
the built-in tools are cheap enough not to need one.

Keys: `{prefix}{namespace joined by ':'}:{key}`; values as the stock cache stores them
(`encoding:bytes` from the serializer), with the TTL in whole seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langgraph.cache.base import BaseCache, FullKey, Namespace, ValueT
from langgraph.checkpoint.serde.base import SerializerProtocol

from handrail.ratelimit import REDIS_FAILURES, REDIS_RETRY_S, RedisOutage

logger = logging.getLogger("handrail.cache")

TIMEOUT_S = 0.25  # a lookup on a hung Redis costs at most this, then the call runs uncached


class AsyncRedisCache(BaseCache[ValueT]):
    """`BaseCache` over a `redis.asyncio` client; every failure reads as a miss (lookups) or is dropped (writes)."""

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str,
        serde: SerializerProtocol | None = None,
        timeout_s: float = TIMEOUT_S,
        retry_s: float = REDIS_RETRY_S,
    ) -> None:
        super().__init__(serde=serde)
        self.redis, self.prefix, self.timeout_s = redis, prefix, timeout_s
        self._outage = RedisOutage("tool_cache", retry_s=retry_s)
        self._degraded: str | None = None

    def cache_degraded(self) -> str | None:
        """Why lookups are being skipped now, or None. Only while the pause after a failure lasts: after
        it the next lookup tries Redis again, and a cache nobody has called since must not keep `/ok`
        degraded once Redis is back (the bus's own probe reports Redis itself)."""
        return self._degraded if self._degraded is not None and not self._outage.usable() else None

    def redis_key(self, ns: Namespace, key: str) -> str:
        return f"{self.prefix}{':'.join(ns)}:{key}" if ns else f"{self.prefix}{key}"

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        if not keys or not self._outage.usable():
            return {}
        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self.redis.mget([self.redis_key(ns, key) for ns, key in keys])
        except REDIS_FAILURES as exc:
            self._failed(exc)
            return {}
        self._succeeded()
        found: dict[FullKey, ValueT] = {}
        for full_key, value in zip(keys, raw, strict=True):
            if value is None:
                continue
            try:
                encoding, data = value.split(b":", 1)
                found[full_key] = self.serde.loads_typed((encoding.decode(), data))
            except Exception:  # an entry this code cannot read (another version wrote it) is a miss
                logger.warning("cache.unreadable_entry", extra={"namespace": ":".join(full_key[0])}, exc_info=True)
        return found

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        if not pairs or not self._outage.usable():
            return
        pipe = self.redis.pipeline(transaction=False)
        for (ns, key), (value, ttl) in pairs.items():
            try:
                encoding, data = self.serde.dumps_typed(value)
            except Exception:  # a value the serializer cannot write is simply not cached
                logger.warning("cache.unstorable_value", extra={"namespace": ":".join(ns)}, exc_info=True)
                continue
            pipe.set(self.redis_key(ns, key), encoding.encode() + b":" + data, ex=ttl)
        if not len(pipe):
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await pipe.execute()
        except REDIS_FAILURES as exc:
            self._failed(exc)
        else:
            self._succeeded()

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete by namespace (all of this prefix when None), with SCAN rather than KEYS, so a large cache
        never blocks Redis. Raises on a Redis error: clearing is an operator's act, not the request path."""
        patterns = [f"{self.prefix}*"] if namespaces is None else [f"{self.redis_key(ns, '')}*" for ns in namespaces]
        for pattern in patterns:
            batch = [key async for key in self.redis.scan_iter(match=pattern, count=500)]
            if batch:
                await self.redis.delete(*batch)

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        raise NotImplementedError("AsyncRedisCache is async only (aget): a sync lookup would block the event loop")

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        raise NotImplementedError("AsyncRedisCache is async only (aset): a sync write would block the event loop")

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        raise NotImplementedError("AsyncRedisCache is async only (aclear)")

    def _failed(self, exc: BaseException) -> None:
        if self._degraded is None:
            since = datetime.now(UTC).strftime("%H:%M:%SZ")
            self._degraded = (
                f"tool cache skipped since {since}: Redis is unavailable ({type(exc).__name__}); "
                "tool calls run uncached"
            )
        self._outage.failed(exc, fallback="tool calls run uncached")

    def _succeeded(self) -> None:
        self._degraded = None
        self._outage.succeeded()
