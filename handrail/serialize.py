"""Turns graph output (messages, interrupts, snapshots) into JSON the LangGraph SDK understands."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from langchain_core.messages import BaseMessage
from langgraph.types import Interrupt, Send
from pydantic import BaseModel

V = TypeVar("V")


class ByObject(Generic[V]):
    """What `make` derives from an object, kept by the object's identity, least recently used dropped
    first. A long conversation's messages are the same objects from one run of its thread to the next
    (the saver keeps them decoded), so their JSON or packed bytes need not be made again. Holds each
    object it keeps, so an id is never reused while cached; LangGraph treats messages as immutable (an
    edit is a new object). Thread safe: the saver packs on worker threads; `make` runs outside the lock."""

    def __init__(self, make: Callable[[Any], V], limit: int = 50_000) -> None:
        self._make, self._limit = make, limit
        self._items: OrderedDict[int, tuple[Any, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, obj: Any) -> V:
        key = id(obj)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is obj:
                self._items.move_to_end(key)
                return hit[1]
        value = self._make(obj)
        self._keep([(obj, value)])
        return value

    def get_many(self, objs: list[Any]) -> list[V]:
        """`get` of each, with one lock for the lookups and one for the new values (a conversation of
        thousands of messages at every checkpoint: a lock per message doubled the time)."""
        found: list[Any] = []
        missing: list[int] = []
        with self._lock:
            for obj in objs:
                hit = self._items.get(id(obj))
                if hit is not None and hit[0] is obj:
                    self._items.move_to_end(id(obj))
                    found.append(hit[1])
                else:
                    missing.append(len(found))
                    found.append(None)
        for position in missing:
            found[position] = self._make(objs[position])
        self._keep([(objs[position], found[position]) for position in missing])
        return found

    def _keep(self, made: list[tuple[Any, V]]) -> None:
        with self._lock:
            for obj, value in made:
                self._items[id(obj)] = (obj, value)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


class MessageJson(ByObject[Any]):
    """The JSON form of messages lately serialised (values events, final states)."""

    def __init__(self, limit: int = 50_000) -> None:
        super().__init__(lambda message: message.model_dump(mode="json"), limit)


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
