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
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.jsonplus import _msgpack_enc

from handrail.serialize import ByObject

MIN_ITEMS = 16  # shorter lists are packed whole, as before: nothing to gain


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


class PackedMessages(ByObject[bytes]):
    """Each message's packed bytes, by object (see ByObject), and lists of messages packed from them."""

    def __init__(self, limit: int = 50_000) -> None:
        super().__init__(_msgpack_enc, limit)

    def pack_list(self, value: list[Any]) -> bytes | None:
        """The msgpack bytes of `value`, or None when it is not a list worth packing this way."""
        if len(value) < MIN_ITEMS or not all(isinstance(m, BaseMessage) for m in value):
            return None
        return b"".join([_array_header(len(value)), *self.get_many(value)])


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
