"""The bus carries wake-ups only: across processes when it can, never at the cost of a run."""

from __future__ import annotations

import logging
import uuid

import redis.asyncio as aioredis

from handrail.bus import Bus, PostgresBus, RedisBus, Subscription
from tests.support.http import free_port
from tests.support.servers import redis_url


async def nudge_until_heard(sender: Bus, sub: Subscription, topic: str) -> None:
    """The listener subscribes asynchronously after start(): nudge until it hears one."""
    for _ in range(50):
        await sender.publish(topic)
        if await sub.wait(0.1):
            return
    raise AssertionError("the nudge never crossed between the two buses")


async def test_a_redis_outage_moves_the_nudge_to_postgres_and_says_so_once(database_url, pool, caplog):
    caplog.set_level(logging.INFO, logger="handrail.health")
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    bus = RedisBus(dead, "handrail-test:", database_url, pool, probe_s=0.1)
    await bus.start()
    topic = f"run:{uuid.uuid4()}"
    try:
        async with bus.subscribe(topic) as local:
            await nudge_until_heard(bus, local, topic)  # the Postgres listener is up
            for _ in range(5):
                await bus.publish(topic)  # must not raise
                assert await local.wait(2), "heard through Postgres LISTEN/NOTIFY"
        assert bus.in_use == "postgres (fallback: redis down)"
        assert bus.sql_notify(topic) is not None, "while Redis is down, a write carries its own nudge"
    finally:
        await bus.close()
        await dead.aclose()
    assert [r.getMessage() for r in caplog.records].count("degradation.started") == 1


async def test_postgres_bus_carries_a_nudge_between_two_listeners(database_url, pool):
    sender, receiver = PostgresBus(database_url, pool), PostgresBus(database_url, pool)
    await receiver.start()
    topic = f"run:{uuid.uuid4()}"
    try:
        async with receiver.subscribe(topic) as sub:
            await nudge_until_heard(sender, sub, topic)
    finally:
        await receiver.close()


async def test_redis_bus_carries_a_nudge_between_two_listeners(database_url, pool):
    client = aioredis.from_url(redis_url())
    prefix = f"handrail-test-{uuid.uuid4().hex[:8]}:"
    sender, receiver = RedisBus(client, prefix, database_url, pool), RedisBus(client, prefix, database_url, pool)
    await receiver.start()
    try:
        async with receiver.subscribe("runs") as sub:
            await nudge_until_heard(sender, sub, "runs")
    finally:
        await receiver.close()
        await client.aclose()


async def test_one_message_wakes_every_topic_it_names_and_no_other(database_url, pool):
    sender, receiver = PostgresBus(database_url, pool), PostgresBus(database_url, pool)
    await receiver.start()
    first, second, other = (f"run:{uuid.uuid4()}" for _ in range(3))
    try:
        async with receiver.subscribe(first) as a, receiver.subscribe(second) as b, receiver.subscribe(other) as c:
            await nudge_until_heard(sender, a, first)  # the listener is up
            await sender.publish(first, second)
            assert await a.wait(2) and await b.wait(2)
            assert not await c.wait(0.2)
    finally:
        await receiver.close()


async def test_a_write_and_its_nudge_can_be_one_statement(database_url, pool):
    receiver = PostgresBus(database_url, pool)
    await receiver.start()
    topic = f"run:{uuid.uuid4()}"
    channel, payload = receiver.sql_notify(topic) or ("", "")
    try:
        async with receiver.subscribe(topic) as sub:
            for _ in range(50):  # until the listener is up
                async with pool.connection() as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
                if await sub.wait(0.1):
                    break
            else:
                raise AssertionError("a nudge sent from SQL never arrived")
    finally:
        await receiver.close()
    healthy_redis = RedisBus(None, "x:", database_url, pool)
    assert healthy_redis.sql_notify(topic) is None, "Redis nudges do not ride on a SQL statement while Redis is up"
