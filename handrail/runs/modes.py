"""The stream modes LangGraph does not produce as such: `events` and the three-event `messages` form.

`events` are astream_events v2 dicts. A run asking for them streams through `astream_events` instead of
`astream`; the root graph's own `on_chain_stream` events carry the `(namespace, mode, chunk)` triples
astream would have produced, so the other modes are read out of them and not sent as events (LangGraph
Server does the same: a client sees each node's stream events, not the graph's).

`messages`: LangGraph Server sends, per message: `messages/metadata` once (`{id: {"metadata": …}}`), then either
`messages/partial` with the message accumulated so far, for each streamed token chunk, or
`messages/complete` for a message that arrived whole (a node's output, a model that does not stream).
Chat UIs (`useStream`) redraw the message from each partial, so every partial carries all of it, not
the delta. `messages-tuple` is the same pairs sent as they come (handrail.runs.executor writes those).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from handrail.serialize import to_json

METADATA, PARTIAL, COMPLETE = "messages/metadata", "messages/partial", "messages/complete"


class MessageEvents:
    """One run's messages, accumulated by id. Holds a streamed message until the run ends; a message's
    chunks are what one model call produced, so this is bounded by the run's own output."""

    def __init__(self) -> None:
        self._chunks: dict[str, BaseMessageChunk | None] = {}

    def feed(self, pair: Any) -> list[tuple[str, Any]]:
        """The events one `(message, metadata)` pair of LangGraph's `messages` mode becomes."""
        message, metadata = pair
        if not isinstance(message, BaseMessage):
            return []  # a `messages` stream carries only messages; anything else is not for this form
        key = message.id or f"run-message-{len(self._chunks)}"
        events: list[tuple[str, Any]] = []
        if key not in self._chunks:
            self._chunks[key] = None
            events.append((METADATA, {key: {"metadata": to_json(metadata)}}))
        if isinstance(message, BaseMessageChunk):
            so_far = self._chunks[key]
            so_far = message if so_far is None else so_far + message
            self._chunks[key] = so_far
            events.append((PARTIAL, [to_json(so_far)]))
        else:
            events.append((COMPLETE, [to_json(message)]))
        return events


Chunk = tuple[tuple[str, ...], str, Any]


async def graph_chunks(
    graph: Pregel, payload: Any, config: dict[str, Any], *, events: bool, **kwargs: Any
) -> AsyncIterator[Chunk]:
    """`graph.astream(..., subgraphs=True)`'s triples; with `events`, every astream_events v2 dict too, as
    `((), "events", event)`, in the order they happened."""
    typed = cast(RunnableConfig, config)
    if not events:
        async for chunk in graph.astream(payload, typed, subgraphs=True, **kwargs):
            yield chunk
        return
    stream = graph.astream_events(payload, typed, version="v2", subgraphs=True, **kwargs)
    async for event in stream:
        if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
            yield event["data"]["chunk"]
        else:
            yield (), "events", event
