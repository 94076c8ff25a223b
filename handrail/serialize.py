"""Turns graph output (messages, interrupts, snapshots) into JSON the LangGraph SDK understands."""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from langchain_core.messages import BaseMessage
from langgraph.types import Interrupt, Send
from pydantic import BaseModel


class MessageJson:
    """The JSON form of messages lately serialised, by object: a long conversation's messages are the
    same objects from one run of its thread to the next (the saver keeps them decoded), and dumping
    them again was the part of a turn that grew with the conversation. Holds each message it keeps, so
    an id is never reused while cached; LangGraph treats messages as immutable (a changed message is a
    new object)."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._cache: OrderedDict[int, tuple[BaseMessage, Any]] = OrderedDict()

    def get(self, message: BaseMessage) -> Any:
        key = id(message)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is message:
            self._cache.move_to_end(key)
            return hit[1]
        data = message.model_dump(mode="json")
        self._cache[key] = (message, data)
        if len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return data


def to_json(obj: Any, messages: MessageJson | None = None) -> Any:
    """A JSON-safe copy of `obj`: messages as their dict form, interrupts as {id, value}. With
    `messages`, a message's form may be shared with earlier results: read them, never change them."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, Interrupt):
        return {"value": to_json(obj.value, messages), "id": obj.id}
    if isinstance(obj, BaseMessage):
        return obj.model_dump(mode="json") if messages is None else messages.get(obj)
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Mapping):
        return {str(k): to_json(v, messages) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_json(v, messages) for v in obj]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, Enum):
        return to_json(obj.value)
    if isinstance(obj, Send):
        return {"node": obj.node, "arg": to_json(obj.arg)}
    if isinstance(obj, Exception):
        return {"error": type(obj).__name__, "message": str(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return str(obj)


def dumps_json(obj: Any) -> bytes | str:
    """JSON text for Postgres: orjson (several times faster than json on a long conversation), json
    where orjson refuses (a key that is not a string, an int beyond 64 bits)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj)
