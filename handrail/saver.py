"""Handrail's checkpointer: LangGraph's Postgres saver on the same tables, with fewer waits.

Measured (bench/steps.py, bench/statements.py) and changed, each keeping what is stored, and how
LangGraph reads it back, exactly as the stock saver has it (tests/integration/test_saver.py):

- The stock saver takes one `asyncio.Lock` around every statement, even on a pool, so every run of a
  process queued behind every other run's checkpoint writes. On a pool each call has its own
  connection, so the lock is only kept for a single shared connection.
- A task's pending writes were one INSERT per write (`executemany`); here one multi-row INSERT.
- A checkpoint was a pipeline of an `executemany` of blobs plus an INSERT; here one statement.
- Serialising small values on a thread cost more than serialising them (a thread hop per step);
  only large values (a long message history) are serialised off the event loop.
- A long conversation was packed again, message by message, at every step that added to it: each
  message's bytes are kept and a list is their concatenation, byte for byte the same (packing.py).
- A long conversation was decoded again at every read of its thread (the run's end, the next turn's
  start): 16% of the server's time at turn 200. Blobs this process wrote or read lately are kept
  decoded, keyed by their stored bytes, so a hit is exactly what decoding would give.
- A task's ordinary writes ride on the next checkpoint's statement (0.5 ms of a 2.1 ms durable step was
  their own round trip): they are held at most LINGER_S, then written alone if no checkpoint came.
  Writes that carry an interrupt, an error or a resume value are written at once, with whatever is
  held; any read of the thread (get_tuple, list) writes what is held first. What this gives up: a
  task whose writes are still held when the process dies runs again on resume, as it would had the
  process died while it ran. No checkpoint is held: `sync` still commits each one before the next step.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres import _ainternal
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncCursor, AsyncRawCursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from handrail.packing import ConversationSerde, PackedMessages
from handrail.serialize import dumps_json

logger = logging.getLogger("handrail.saver")

# Rows go in as one multi-row VALUES list of scalar parameters: psycopg dumps Python lists as arrays
# slowly (an INSERT over unnest() of arrays took 0.77 ms against 0.27 ms for the same row as scalars).
# The statements use Postgres' own $n placeholders through a raw cursor: psycopg re-parses a statement
# with more than 50 parameters on every execution (the first checkpoint of a run has ~60).
_WRITE_COLUMNS = "thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob"
_WRITE_CONFLICT = "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) "
# As the stock saver: writes to special channels (errors, interrupts, resumes) replace an earlier one
# at the same index; ordinary writes are recorded once.
_UPSERT = "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
_CHECKPOINT_COLUMNS = "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata"
_BLOB_COLUMNS = "thread_id, checkpoint_ns, channel, version, type, blob"


def _placeholders(rows: int, width: int, first: int = 1) -> str:
    return ", ".join(
        "(" + ", ".join(f"${first + row * width + column}" for column in range(width)) + ")" for row in range(rows)
    )


def _held_cte(held: int) -> str:
    """Held ordinary writes, inserted if absent, ahead of the statement they ride on ($1 onwards)."""
    return (
        f"held AS (INSERT INTO checkpoint_writes ({_WRITE_COLUMNS}) VALUES {_placeholders(held, 9)} "
        f"{_WRITE_CONFLICT}DO NOTHING)"
    )


@lru_cache(maxsize=256)
def writes_sql(rows: int, upsert: bool, held: int = 0) -> str:
    insert = (
        f"INSERT INTO checkpoint_writes ({_WRITE_COLUMNS}) VALUES {_placeholders(rows, 9, held * 9 + 1)} "
        + _WRITE_CONFLICT
        + (_UPSERT if upsert else "DO NOTHING")
    )
    return f"WITH {_held_cte(held)} {insert}" if held else insert


@lru_cache(maxsize=256)
def put_sql(blobs: int, held: int = 0) -> str:
    """Held writes, the blobs of the channels that changed and the checkpoint that names their versions,
    in one statement."""
    first_blob = held * 9 + 1
    put = (
        f"INSERT INTO checkpoints ({_CHECKPOINT_COLUMNS}) VALUES {_placeholders(1, 6, first_blob + blobs * 6)} "
        "ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) "
        "DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata"
    )
    ctes = [_held_cte(held)] if held else []
    if blobs:
        ctes.append(
            f"blobs AS (INSERT INTO checkpoint_blobs ({_BLOB_COLUMNS}) VALUES {_placeholders(blobs, 6, first_blob)} "
            "ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING)"
        )
    return f"WITH {', '.join(ctes)} {put}" if ctes else put


DECODED_BYTES = 16 * 2**20  # stored bytes of the blobs kept decoded, per process
DECODED_MIN_BYTES = 1024  # smaller blobs decode faster than they are worth keeping
LINGER_S = 0.005  # how long a task's ordinary writes may wait for the checkpoint that follows them
LARGE_LIST = 64  # a list value this long (a long conversation) is serialised on a worker thread


def _large(values: Any) -> bool:
    return any(isinstance(v, list | tuple) and len(v) > LARGE_LIST for v in values)


class _Decoded:
    """Decoded list values (a conversation, observations) by their stored (type, bytes), least recently
    used dropped first. A list is handed out as a copy: a graph channel keeps the value it is given, and
    a reducer may extend it; the elements (messages) are shared, as LangGraph treats them as immutable."""

    def __init__(self, limit_bytes: int) -> None:
        self._items: OrderedDict[tuple[str, bytes], list[Any]] = OrderedDict()
        self._bytes, self._limit = 0, limit_bytes

    def get(self, key: tuple[str, bytes]) -> list[Any] | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return list(found)

    def put(self, key: tuple[str, bytes], value: Any) -> None:
        if not isinstance(value, list) or len(key[1]) < DECODED_MIN_BYTES or key in self._items:
            return
        self._items[key] = list(value)
        self._bytes += len(key[1])
        while self._bytes > self._limit and self._items:
            (_, dropped), _ = self._items.popitem(last=False)
            self._bytes -= len(dropped)


class HandrailSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver with no process-wide lock on a pool, one statement per checkpoint (with the
    writes that led to it) and per urgent task's writes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[str, list[tuple[Any, ...]]] = {}  # thread id -> ordinary write rows, in order
        self._lingering: dict[str, asyncio.Task[None]] = {}
        self._writing: dict[str, set[asyncio.Future[None]]] = {}
        self._decoded = _Decoded(DECODED_BYTES)
        self.serde = ConversationSerde(self.serde, PackedMessages())  # type: ignore[assignment]

    def _load_blobs(self, blob_values: list[tuple[bytes, bytes, bytes]]) -> dict[str, Any]:
        """As the stock saver, but a list value decoded lately (or written by this process) is not
        decoded again."""
        loaded: dict[str, Any] = {}
        for channel, kind, blob in blob_values or ():
            type_ = kind.decode()
            if type_ == "empty":
                continue
            key = (type_, bytes(blob))
            value = self._decoded.get(key)
            if value is None:
                value = self.serde.loads_typed((type_, blob))
                self._decoded.put(key, value)
            loaded[channel.decode()] = value
        return loaded

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        if not isinstance(self.conn, AsyncConnectionPool) or self.pipe is not None:
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        # Every statement here is a single one, so it needs no pipeline or transaction of its own.
        async with _ainternal.get_connection(self.conn) as conn, conn.cursor(binary=True, row_factory=dict_row) as cur:
            yield cur

    @asynccontextmanager
    async def _raw_cursor(self) -> AsyncIterator[AsyncRawCursor[DictRow]]:
        """A cursor taking $n placeholders; as `_cursor`, locked only when the connection is shared."""
        if isinstance(self.conn, AsyncConnectionPool) and self.pipe is None:
            async with _ainternal.get_connection(self.conn) as conn, AsyncRawCursor(conn, row_factory=dict_row) as cur:
                yield cur
            return
        async with (
            self.lock,
            _ainternal.get_connection(self.conn) as conn,
            AsyncRawCursor(conn, row_factory=dict_row) as cur,
        ):
            yield cur

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        configurable = config["configurable"]
        thread_id, checkpoint_ns = configurable["thread_id"], configurable["checkpoint_ns"]
        copy = checkpoint.copy()
        copy["channel_values"] = copy["channel_values"].copy()
        # As the stock saver: primitives stay inline in the checkpoint, anything else becomes a blob.
        blob_values: dict[str, Any] = {}
        for key, value in checkpoint["channel_values"].items():
            if isinstance(value, _DeltaSnapshot):
                blob_values[key] = copy["channel_values"].pop(key)
                copy["channel_values"][key] = True
            elif value is None or isinstance(value, str | int | float | bool):
                pass
            else:
                blob_values[key] = copy["channel_values"].pop(key)
        versions = {k: v for k, v in new_versions.items() if k in blob_values}
        if _large(blob_values.values()):
            rows = await asyncio.to_thread(self._dump_blobs, thread_id, checkpoint_ns, blob_values, versions)
        else:
            rows = self._dump_blobs(thread_id, checkpoint_ns, blob_values, versions)
        for _, _, channel, _, type_, blob in rows:
            if blob is not None and channel in blob_values:
                self._decoded.put((type_, blob), blob_values[channel])
        checkpoint_row = (
            thread_id,
            checkpoint_ns,
            checkpoint["id"],
            configurable.get("checkpoint_id"),
            Jsonb(copy, dumps=dumps_json),
            Jsonb(get_serializable_checkpoint_metadata(config, metadata), dumps=dumps_json),
        )
        held = self._held.pop(thread_id, [])
        try:
            await self._execute(
                thread_id,
                put_sql(len(rows), len(held)),
                [value for row in [*held, *rows] for value in row] + list(checkpoint_row),
            )
        except BaseException:
            self._hold_again(thread_id, held)
            raise
        return {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint["id"]}
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if not writes:
            return
        upsert = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        conf = config["configurable"]
        args = (conf["thread_id"], conf["checkpoint_ns"], conf["checkpoint_id"], task_id, task_path, writes)
        if _large(value for _, value in writes):
            rows = await asyncio.to_thread(self._dump_writes, *args)
        else:
            rows = self._dump_writes(*args)
        # executemany applied rows in order, so a later row for the same index won (upsert) or lost (insert);
        # one statement may not touch a row twice, so keep the row that would have prevailed.
        by_idx: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            if upsert or row[5] not in by_idx:
                by_idx[row[5]] = row
        thread_id = conf["thread_id"]
        if not any(channel in WRITES_IDX_MAP for channel, _ in writes):
            self._held.setdefault(thread_id, []).extend(by_idx.values())
            if thread_id not in self._lingering:
                self._lingering[thread_id] = asyncio.create_task(self._linger(thread_id))
            return
        held = self._held.pop(thread_id, [])
        try:
            await self._execute(
                thread_id,
                writes_sql(len(by_idx), upsert, len(held)),
                [value for row in [*held, *by_idx.values()] for value in row],
            )
        except BaseException:
            self._hold_again(thread_id, held)
            raise

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        await self.settle(config["configurable"]["thread_id"])
        return await super().aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 (LangGraph's name)
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        thread_id = (config or {}).get("configurable", {}).get("thread_id")
        await (self.settle(thread_id) if thread_id else self.settle_all())
        async for found in super().alist(config, filter=filter, before=before, limit=limit):
            yield found

    async def adelete_thread(self, thread_id: str) -> None:
        self._held.pop(str(thread_id), None)
        await super().adelete_thread(thread_id)

    async def settle(self, thread_id: str) -> None:
        """Write what is held for the thread and wait for writes under way: a read sees every write."""
        held = self._held.pop(thread_id, [])
        if held:
            try:
                await self._execute(thread_id, writes_sql(len(held), False), [v for row in held for v in row])
            except BaseException:
                self._hold_again(thread_id, held)
                raise
        if writing := self._writing.get(thread_id):
            await asyncio.gather(*writing, return_exceptions=True)

    async def settle_all(self) -> None:
        """Every held write, written (at shutdown)."""
        for thread_id in list(self._held) + list(self._writing):
            await self.settle(thread_id)
        for task in list(self._lingering.values()):
            task.cancel()

    async def _linger(self, thread_id: str) -> None:
        try:
            await asyncio.sleep(LINGER_S)
            await self.settle(thread_id)
        except Exception:
            # Held again: the thread's next checkpoint, read or urgent write takes them.
            logger.warning("saver.writes_delayed", extra={"thread_id": thread_id}, exc_info=True)
        finally:
            self._lingering.pop(thread_id, None)

    def _hold_again(self, thread_id: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self._held[thread_id] = rows + self._held.get(thread_id, [])

    async def _execute(self, thread_id: str, sql: str, params: list[Any]) -> None:
        """One statement, tracked while under way so that `settle` can wait for it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writing.setdefault(thread_id, set()).add(done)
        try:
            async with self._raw_cursor() as cur:
                await cur.execute(sql, params)
        finally:
            done.set_result(None)
            writing = self._writing.get(thread_id)
            if writing is not None:
                writing.discard(done)
                if not writing:
                    del self._writing[thread_id]
