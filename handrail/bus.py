"""Wake-ups across processes: "run X has new events", "a run was queued", "cancel run Y".

The bus carries only nudges; the facts live in Postgres (runs, run_events). A lost message costs
latency, never data: every waiter also polls. Redis pub/sub when REDIS_URL is set, Postgres
LISTEN/NOTIFY otherwise.

With Redis, every process also listens on Postgres (one idle connection, no cost per message), so a
Redis outage moves wake-ups to Postgres NOTIFY without losing one: a publish that fails on Redis is sent
again through Postgres at once, later ones go there directly, and a process that notices the outage tells
the others over Postgres so that they publish there too (one whose own Redis still answers would else keep
publishing where the first no longer listens). A background ping (REDIS_PROBE_S) notices Redis answering
again; publishing returns to Redis after a grace long enough for every process to have subscribed again.
The LISTEN connection doubles as this process's live view of Postgres (handrail/health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from redis.exceptions import RedisError

from handrail.db import Pool
from handrail.health import POSTGRES, REDIS, Health

logger = logging.getLogger("handrail.bus")

PG_CHANNEL = "handrail_bus"
SEPARATOR = "\n"  # several topics in one message; no topic contains a newline
RECONNECT_S = 1.0
REDIS_TIMEOUT_S = 1.0  # a bus operation on Redis slower than this counts as failed (the client retries for ~4 s)
# Sent on Postgres by a process that finds Redis down: the others publish on Postgres for OUTAGE_HEARD_S.
OUTAGE_TOPIC = "bus:redis-down"


class Subscription:
    """A latch a waiter can sleep on until the next nudge (or its poll interval)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when nudged, False when `seconds` passed first."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class Bus:
    """Local fan-out of nudges to subscriptions; subclasses carry them between processes."""

    kind = "local"

    def __init__(self, health: Health | None = None) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._connected: dict[str, bool] = {}
        self.health = health or Health()

    @property
    def in_use(self) -> str:
        """The channel nudges travel on now (/info)."""
        return self.kind

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self._subs[topic].add(sub)
        try:
            yield sub
        finally:
            self._subs[topic].discard(sub)
            if not self._subs[topic]:
                del self._subs[topic]

    def _deliver(self, message: str) -> None:
        for topic in message.split(SEPARATOR):
            for sub in list(self._subs.get(topic, ())):
                sub.notify()

    def nudge_local(self, *topics: str) -> None:
        """Wake this process's subscribers at once, ahead of the message that also reaches the others."""
        self._deliver(SEPARATOR.join(topics))

    async def publish(self, *topics: str) -> None:
        """Nudge every process listening on any of `topics`, in one message. Never raises: a lost nudge
        only costs latency (waiters poll), while raising here would fail a run because Redis or a
        connection blinked."""
        message = SEPARATOR.join(topics)
        try:
            await self._send(message)
        except Exception:
            logger.warning("bus.publish_failed", extra={"bus": self.kind, "topics": topics}, exc_info=True)
            self._deliver(message)  # local waiters still hear it

    def sql_notify(self, *topics: str) -> tuple[str, str] | None:
        """(channel, payload) for a bus that a SQL statement can publish on with pg_notify, so that a
        write and its nudge take one round trip (and arrive together: NOTIFY is sent at commit)."""
        return None

    async def _send(self, message: str) -> None:
        self._deliver(message)

    async def start(self) -> None:
        self._spawn(self._listen_forever(self.kind, self._listen), f"bus-{self.kind}")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen_forever(self, channel: str, listen: Any) -> None:
        """Run `listen` again whenever it stops. One that was connected reconnects at once (a restarted
        server, a terminated connection); one that could not connect is reported down (once, through
        `_listener_down`) and tried again every RECONNECT_S."""
        while True:
            self._connected[channel] = False
            error: BaseException | None = None
            try:
                await listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            if self._connected[channel]:
                logger.info("bus.listener_reconnecting", extra={"bus": channel, "error": type(error).__name__})
                continue
            self._listener_down(channel, error)
            await asyncio.sleep(RECONNECT_S)

    def _listener_up(self, channel: str) -> None:
        """Called by a listener once it is subscribed."""
        self._connected[channel] = True
        if channel == "postgres":
            self.health.recovered(POSTGRES)

    def _listener_down(self, channel: str, error: BaseException | None) -> None:
        if channel == "postgres":
            self.health.degraded(POSTGRES, f"unreachable (LISTEN connection: {type(error).__name__})")
        logger.debug("bus.listener_down", extra={"bus": channel}, exc_info=error)

    async def _listen(self) -> None:
        self._listener_up(self.kind)
        await asyncio.Event().wait()  # the local bus has nothing to listen to


class PostgresBus(Bus):
    kind = "postgres"

    def __init__(self, dsn: str, pool: Pool, *, health: Health | None = None) -> None:
        super().__init__(health)
        self._dsn, self._pool = dsn, pool
        self.health.watch(POSTGRES)

    async def start(self) -> None:
        self._spawn(self._listen_forever("postgres", self._listen_postgres), "bus-postgres")

    async def _send(self, message: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, message))

    def sql_notify(self, *topics: str) -> tuple[str, str] | None:
        return PG_CHANNEL, SEPARATOR.join(topics)

    async def _listen_postgres(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            await conn.execute(f"LISTEN {PG_CHANNEL}")
            self._listener_up("postgres")
            async for note in conn.notifies():
                self._heard_on_postgres(note.payload)

    def _heard_on_postgres(self, message: str) -> None:
        self._deliver(message)


class RedisBus(PostgresBus):
    """Redis pub/sub, with Postgres LISTEN/NOTIFY beside it for when Redis is down (the module says how)."""

    kind = "redis"

    def __init__(
        self, client: Any, prefix: str, dsn: str, pool: Pool, *, health: Health | None = None, probe_s: float = 1.0
    ) -> None:
        super().__init__(dsn, pool, health=health)
        self._redis, self._channel = client, f"{prefix}bus"
        self._probe_s = probe_s
        # After Redis answers again: the others' listeners resubscribe within RECONNECT_S (+ a probe).
        self._grace_s = 2 * max(RECONNECT_S, probe_s)
        self._answered_since: float | None = None  # Redis answering again, since (monotonic), while degraded
        self._postgres_until = 0.0  # another process reported Redis down: publish on Postgres until then
        self._outage_topic = f"{OUTAGE_TOPIC}:{uuid.uuid4().hex}"  # this process's report, which it ignores
        self._announcing: set[asyncio.Task[None]] = set()
        self.health.watch(REDIS)

    @property
    def in_use(self) -> str:
        if self.health.is_degraded(REDIS):
            return "postgres (fallback: redis down)"
        if self._now() < self._postgres_until:
            return "postgres (fallback: redis down for another replica)"
        return "redis"

    def _on_redis(self) -> bool:
        return not self.health.is_degraded(REDIS) and self._now() >= self._postgres_until

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        await super().start()
        self._spawn(self._listen_forever("redis", self._listen), "bus-redis")
        self._spawn(self._probe_forever(), "bus-redis-probe")

    async def _send(self, message: str) -> None:
        if self._on_redis():
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_S):
                    await self._redis.publish(self._channel, json.dumps(message))
                return
            except (OSError, TimeoutError, RedisError) as exc:
                self._redis_failed(f"publish failed ({type(exc).__name__})")
        # Every process listens here too, whichever bus it publishes on.
        await super()._send(message)

    def sql_notify(self, *topics: str) -> tuple[str, str] | None:
        return None if self._on_redis() else super().sql_notify(*topics)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self._listener_up("redis")
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._deliver(json.loads(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _listener_down(self, channel: str, error: BaseException | None) -> None:
        super()._listener_down(channel, error)
        if channel == "redis":
            self._redis_failed(f"subscription lost ({type(error).__name__})")

    def _heard_on_postgres(self, message: str) -> None:
        if message.startswith(OUTAGE_TOPIC) and message != self._outage_topic:
            self._postgres_until = self._now() + self._grace_s + self._probe_s
        super()._heard_on_postgres(message)

    def _redis_failed(self, reason: str) -> None:
        self._answered_since = None
        if not self.health.is_degraded(REDIS):
            self.health.degraded(REDIS, f"{reason}; wake-ups go through Postgres LISTEN/NOTIFY")
            # Tell the others at once (they may still think Redis is fine); each probe while down repeats it.
            announce = asyncio.get_running_loop().create_task(self._announce_outage())
            self._announcing.add(announce)
            announce.add_done_callback(self._announcing.discard)

    async def _announce_outage(self) -> None:
        try:
            await super()._send(self._outage_topic)
        except Exception:
            logger.debug("bus.outage_announce_failed", exc_info=True)

    async def _probe_forever(self) -> None:
        """Ping Redis every REDIS_PROBE_S: the first failure starts the outage (if a publish or the
        listener did not already), and Redis answering (with this process subscribed again) for the
        grace period ends it."""
        while True:
            await asyncio.sleep(self._probe_s)
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_S):
                    await self._redis.ping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.health.is_degraded(REDIS):
                    self._answered_since = None
                    await self._announce_outage()
                else:
                    self._redis_failed(f"ping failed ({type(exc).__name__})")
                continue
            if not self.health.is_degraded(REDIS):
                continue
            if not self._connected.get("redis"):
                continue  # subscribed again first: until then this process would miss what others send there
            self._answered_since = self._answered_since or self._now()
            if self._now() - self._answered_since >= self._grace_s:
                self._answered_since = None
                self.health.recovered(REDIS)
