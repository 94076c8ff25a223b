"""The per-user sliding window on the real Redis, shared between replicas, and in-process when Redis is down."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from handrail.errors import RateLimited
from handrail.ratelimit import LocalWindow, RateLimiter
from tests.support.http import free_port


async def test_two_replicas_share_one_window_per_user(redis_client, prefix):
    a, b = RateLimiter(3, redis_client, prefix), RateLimiter(3, redis_client, prefix)

    decisions = [await a.hit("alice"), await b.hit("alice"), await a.hit("alice"), await b.hit("alice")]

    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    assert all(d.backend == "redis" and 59 < d.reset_s <= 60 for d in decisions if d)
    assert (await a.hit("bob")).allowed  # type: ignore[union-attr]
    assert 0 < await redis_client.pttl(f"{prefix}ratelimit:alice") <= 60_000, "the window's key expires"
    assert await redis_client.zcard(f"{prefix}ratelimit:alice") == 3, "a refused request takes no slot"


async def test_a_request_over_the_limit_is_refused_with_the_time_until_a_slot_frees(redis_client, prefix):
    limiter = RateLimiter(1, redis_client, prefix)
    await limiter.admit("alice")

    with pytest.raises(RateLimited) as refused:
        await limiter.admit("alice")

    assert "RATE_LIMIT_PER_MINUTE" in str(refused.value) and "1 requests per minute" in str(refused.value)
    headers = refused.value.headers or {}
    assert headers["Retry-After"] == "60" and headers["X-RateLimit-Remaining"] == "0"


async def test_a_short_window_frees_its_slots_as_it_slides(redis_client, prefix):
    limiter = RateLimiter(2, redis_client, prefix, window_s=0.3)
    assert (await limiter.hit("alice")).allowed  # type: ignore[union-attr]
    assert (await limiter.hit("alice")).allowed  # type: ignore[union-attr]
    refused = await limiter.hit("alice")
    assert refused is not None and not refused.allowed and refused.reset_s <= 0.3

    with pytest.raises(RateLimited):
        await limiter.admit("alice")
    # the refusal said when a slot frees; waiting that long is enough
    await asyncio.sleep(refused.reset_s + 0.01)
    assert (await limiter.hit("alice")).allowed  # type: ignore[union-attr]


async def test_with_redis_down_the_limit_holds_per_process_and_warns_once(caplog):
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    limiter = RateLimiter(2, dead, "handrail-test:")
    caplog.set_level(logging.WARNING, logger="handrail.ratelimit")

    decisions = [await limiter.hit("alice") for _ in range(5)]

    assert [d.allowed for d in decisions if d] == [True, True, False, False, False], "never unlimited"
    assert {d.backend for d in decisions if d} == {"local"}
    assert [r.message for r in caplog.records] == ["redis.unavailable"], "one warning per outage"
    await dead.aclose()


async def test_a_limit_of_zero_is_off_and_touches_nothing():
    limiter = RateLimiter(0, None, "unused:")

    assert await limiter.admit("alice") is None


def test_the_in_process_window_forgets_idle_users():
    now = [0.0]
    window = LocalWindow(1, window_s=1.0, clock=lambda: now[0])
    for n in range(1023):
        window.hit(f"user-{n}")
    now[0] = 2.0

    assert window.hit("latecomer").allowed  # the 1024th user held: the idle ones are dropped
    assert len(window) == 1
