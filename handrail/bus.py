"""Wake-ups across processes: "run X has new events", "a run was queued", "cancel run Y".

The bus carries only nudges; the facts live in Postgres (runs, run_events). A lost message costs
latency, never data: every waiter also polls. Redis pub/sub when REDIS_URL is set, Postgres
LISTEN/NOTIFY otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from handrail.db import Pool

logger = logging.getLogger("handrail.bus")

PG_CHANNEL = "handrail_bus"
SEPARATOR = "\n"  # several topics in one message; no topic contains a newline
RECONNECT_S = 1.0


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

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

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
        self._task = asyncio.create_task(self._listen_forever(), name=f"bus-{self.kind}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("bus.listener_lost", extra={"bus": self.kind, "retry_in_s": RECONNECT_S}, exc_info=True)
            await asyncio.sleep(RECONNECT_S)

    async def _listen(self) -> None:
        await asyncio.Event().wait()  # the local bus has nothing to listen to


class PostgresBus(Bus):
    kind = "postgres"

    def __init__(self, dsn: str, pool: Pool) -> None:
        super().__init__()
        self._dsn, self._pool = dsn, pool

    async def _send(self, message: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, message))

    def sql_notify(self, *topics: str) -> tuple[str, str] | None:
        return PG_CHANNEL, SEPARATOR.join(topics)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            await conn.execute(f"LISTEN {PG_CHANNEL}")
            async for note in conn.notifies():
                self._deliver(note.payload)


class RedisBus(Bus):
    kind = "redis"

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__()
        self._redis, self._channel = client, f"{prefix}bus"

    async def _send(self, message: str) -> None:
        await self._redis.publish(self._channel, json.dumps(message))

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._deliver(json.loads(message["data"]))
        finally:
            await pubsub.aclose()
