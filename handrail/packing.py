"""Serialising a long conversation once per message, not once per checkpoint.

LangGraph stores a channel's whole value at every version: a conversation of n messages is packed
again, message by message, every time a step adds one (several times a turn), so a turn's cost grew
with the thread. The blob format stays LangGraph's own: a msgpack array is its header followed by its
items packed one by one, so a list of messages is packed as the header plus each message's bytes,
kept from the last time that same message object was packed. Reading is untouched (the stock
`loads_typed`), and the bytes are exactly what the stock serialiser writes (tests check both).
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import _msgpack_enc

MIN_ITEMS = 16  # shorter lists are packed whole, as before: nothing to gain


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


class PackedMessages:
    """Each message's packed bytes by object, least recently used dropped first. Holds the messages it
    keeps, so an object id is never reused while cached; LangGraph treats messages as immutable (an
    edit is a new object). Used from the saver's worker threads as well: guarded by a lock."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._items: OrderedDict[int, tuple[BaseMessage, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def pack_list(self, value: list[Any]) -> bytes | None:
        """The msgpack bytes of `value`, or None when it is not a list worth packing this way."""
        if len(value) < MIN_ITEMS or not all(isinstance(m, BaseMessage) for m in value):
            return None
        parts = [_array_header(len(value))]
        missing: list[tuple[int, BaseMessage]] = []
        with self._lock:
            for message in value:
                hit = self._items.get(id(message))
                if hit is not None and hit[0] is message:
                    self._items.move_to_end(id(message))
                    parts.append(hit[1])
                else:
                    missing.append((len(parts), message))
                    parts.append(b"")
        for position, message in missing:  # packed outside the lock
            parts[position] = _msgpack_enc(message)
        with self._lock:
            for position, message in missing:
                self._items[id(message)] = (message, parts[position])
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return b"".join(parts)


class ConversationSerde:
    """The saver's serialiser, with lists of messages packed through `PackedMessages`; everything
    else (reading included) is the stock serialiser's."""

    def __init__(self, inner: Any, packed: PackedMessages) -> None:
        self._inner, self._packed = inner, packed

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, list) and (data := self._packed.pack_list(obj)) is not None:
            return "msgpack", data
        return self._inner.dumps_typed(obj)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
