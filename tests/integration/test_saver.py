"""HandrailSaver stores pending writes exactly as LangGraph's stock saver does, in one statement:
the same rows for ordinary and special channels, duplicates resolved the same way, read back the same."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.checkpoint.base import ERROR, INTERRUPT, RESUME, empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from handrail.saver import HandrailSaver
from tests.support.waiting import eventually

WRITE_BATCHES: list[list[tuple[str, Any]]] = [
    [("messages", [{"role": "user", "content": "hi"}]), ("cursor", 1), ("plan", [{"tool": "calculator"}])],
    [("observations", []), ("observations", [1])],  # an ordinary channel twice: both kept, at their own idx
    [(INTERRUPT, {"value": "first"}), (INTERRUPT, {"value": "second"})],  # special, same idx: the last wins
    [(RESUME, {"decision": "approve"})],
    [(ERROR, "boom")],
]


async def stored(pool: Any, saver: AsyncPostgresSaver) -> tuple[list[tuple[Any, ...]], Any]:
    thread = f"saver-{uuid.uuid4()}"
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    config = await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})  # type: ignore[arg-type]
    for n, writes in enumerate(WRITE_BATCHES):
        await saver.aput_writes(config, writes, task_id=f"task-{n}", task_path=f"path-{n}")
        await saver.aput_writes(config, writes, task_id=f"task-{n}", task_path=f"path-{n}")  # replayed
    if isinstance(saver, HandrailSaver):
        await saver.settle(thread)  # ordinary writes wait (LINGER_S at most) for the next checkpoint
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT task_id, task_path, idx, channel, type, blob FROM checkpoint_writes "
                "WHERE thread_id = %s ORDER BY task_id, idx",
                (thread,),
            )
        ).fetchall()
    found = await saver.aget_tuple(config)
    assert found is not None
    return [tuple(r.values()) for r in rows], found.pending_writes


async def test_pending_writes_match_the_stock_saver_row_for_row(pool):
    mine_rows, mine_pending = await stored(pool, HandrailSaver(pool))
    stock_rows, stock_pending = await stored(pool, AsyncPostgresSaver(pool))

    assert mine_rows == stock_rows
    assert mine_pending == stock_pending
    assert ("task-2", INTERRUPT, {"value": "second"}) in mine_pending


async def write_rows(pool: Any, thread: str) -> list[tuple[str, str]]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT task_id, channel FROM checkpoint_writes WHERE thread_id = %s ORDER BY task_id, idx", (thread,)
            )
        ).fetchall()
    return [(r["task_id"], r["channel"]) for r in rows]


async def first_checkpoint(saver: HandrailSaver) -> tuple[str, dict[str, Any]]:
    thread = f"held-{uuid.uuid4()}"
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    return thread, await saver.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})  # type: ignore[arg-type]


async def test_a_tasks_writes_ride_on_the_next_checkpoint(pool):
    saver = HandrailSaver(pool)
    thread, config = await first_checkpoint(saver)
    await saver.aput_writes(config, [("messages", ["hi"])], task_id="t1")
    assert await write_rows(pool, thread) == [], "held, not yet written"

    await saver.aput(config, empty_checkpoint(), {"source": "loop", "step": 0}, {})  # type: ignore[arg-type]

    assert await write_rows(pool, thread) == [("t1", "messages")], "written with the checkpoint that followed"


async def test_held_writes_are_written_on_their_own_when_no_checkpoint_follows(pool):
    saver = HandrailSaver(pool)
    thread, config = await first_checkpoint(saver)
    await saver.aput_writes(config, [("messages", ["hi"])], task_id="t1")

    async def written() -> bool:
        return await write_rows(pool, thread) == [("t1", "messages")]

    await eventually(written)  # within LINGER_S, with nothing else happening on the thread


async def test_an_interrupt_is_written_at_once_with_the_writes_held_before_it(pool):
    saver = HandrailSaver(pool)
    thread, config = await first_checkpoint(saver)
    await saver.aput_writes(config, [("messages", ["hi"])], task_id="t1")

    await saver.aput_writes(config, [(INTERRUPT, {"value": "approve?"})], task_id="t2")

    assert await write_rows(pool, thread) == [("t1", "messages"), ("t2", INTERRUPT)]


async def test_a_read_sees_every_write_held_or_under_way(pool):
    saver = HandrailSaver(pool)
    thread, config = await first_checkpoint(saver)
    await saver.aput_writes(config, [("messages", ["hi"])], task_id="t1")

    found = await saver.aget_tuple(config)

    assert found is not None and [(t, c) for t, c, _ in found.pending_writes] == [("t1", "messages")]


class CountingSerde:
    """The saver's serializer, counting what it decodes."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.decoded = inner, 0

    def dumps_typed(self, obj: Any) -> Any:
        return self.inner.dumps_typed(obj)

    def loads_typed(self, data: Any) -> Any:
        self.decoded += 1
        return self.inner.loads_typed(data)


async def put_conversation(saver: HandrailSaver, turns: int) -> dict[str, Any]:
    from langchain_core.messages import AIMessage, HumanMessage

    messages = [m for i in range(turns) for m in (HumanMessage(f"question {i} " * 20), AIMessage(f"answer {i} " * 20))]
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"messages": messages}
    version = "00000000000000000000000000000001.0"
    checkpoint["channel_versions"] = {"messages": version}
    config = {"configurable": {"thread_id": f"decoded-{uuid.uuid4()}", "checkpoint_ns": ""}}
    return await saver.aput(config, checkpoint, {"source": "loop", "step": 1}, {"messages": version})  # type: ignore[arg-type]


async def test_a_conversation_this_process_wrote_is_read_back_without_decoding_it_again(pool):
    saver = HandrailSaver(pool)
    saver.serde = CountingSerde(saver.serde)  # type: ignore[assignment]
    config = await put_conversation(saver, turns=40)

    first = await saver.aget_tuple(config)
    assert first is not None and saver.serde.decoded == 0  # type: ignore[attr-defined]

    fresh = HandrailSaver(pool)  # another process: decodes the stored bytes
    decoded = await fresh.aget_tuple(config)
    assert decoded is not None
    assert first.checkpoint["channel_values"]["messages"] == decoded.checkpoint["channel_values"]["messages"]


async def test_a_list_handed_out_from_the_decoded_cache_is_the_callers_own(pool):
    saver = HandrailSaver(pool)
    config = await put_conversation(saver, turns=40)
    first = await saver.aget_tuple(config)
    assert first is not None
    first.checkpoint["channel_values"]["messages"].clear()  # a channel extending or replacing it in place

    again = await saver.aget_tuple(config)
    assert again is not None and len(again.checkpoint["channel_values"]["messages"]) == 80
