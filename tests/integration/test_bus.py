"""The bus carries wake-ups only: across processes when it can, never at the cost of a run."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from handrail.bus import Bus, PostgresBus, RedisBus, Subscription
from tests.support.http import free_port


async def nudge_until_heard(sender: Bus, sub: Subscription, topic: str) -> None:
    """The listener subscribes asynchronously after start(): nudge until it hears one."""
    for _ in range(50):
        await sender.publish(topic)
        if await sub.wait(0.1):
            return
    raise AssertionError("the nudge never crossed between the two buses")


async def test_a_redis_outage_loses_the_nudge_not_the_run():
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    bus = RedisBus(dead, prefix="handrail-test:")
    async with bus.subscribe("run:x") as local:
        await bus.publish("run:x")  # must not raise
        assert await local.wait(0.1), "waiters in this process are still woken"
    await dead.aclose()


async def test_postgres_bus_carries_a_nudge_between_two_listeners(database_url, pool):
    sender, receiver = PostgresBus(database_url, pool), PostgresBus(database_url, pool)
    await receiver.start()
    topic = f"run:{uuid.uuid4()}"
    try:
        async with receiver.subscribe(topic) as sub:
            await nudge_until_heard(sender, sub, topic)
    finally:
        await receiver.close()


async def test_redis_bus_carries_a_nudge_between_two_listeners():
    client = aioredis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"handrail-test-{uuid.uuid4().hex[:8]}:"
    sender, receiver = RedisBus(client, prefix), RedisBus(client, prefix)
    await receiver.start()
    try:
        async with receiver.subscribe("runs") as sub:
            await nudge_until_heard(sender, sub, "runs")
    finally:
        await receiver.close()
        await client.aclose()
