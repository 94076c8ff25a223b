"""How `values` events are stored: as what changed since the run's previous one.

Every `values` event is the whole thread state. Stored whole, a run of n super-steps wrote the history
n times over, and a long thread's event log grew with the square of its turns (issue 12: 180 KB per
event at turn 200, 60% of the database). Here the first `values` event of a run is stored whole (a
keyframe) and each later one as a delta against the one before it (`base_seq`), found without
serialising the unchanged part: a reducer such as `add_messages` hands back the same objects for the
messages it kept, so a list that still starts with the previous list's objects only grew.

Readers get whole events back: `ValuesDecoder` rebuilds them, and the run's final output points at its
last `values` event instead of holding a third copy of the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handrail.serialize import MessageJson, to_json

VALUES = "values"


def _grew(before: Any, after: Any) -> bool:
    """`after` is `before` with items appended (same objects, same order), or is `before` itself."""
    if not isinstance(before, list) or not isinstance(after, list) or len(after) < len(before):
        return False
    return all(a is b for a, b in zip(before, after, strict=False))


class ValuesEncoder:
    """One run's `values` events, turned into a keyframe and then deltas. Keeps the last state both as
    the graph's objects (to find what changed) and as JSON (the output a finished run points at)."""

    def __init__(self, messages: MessageJson | None = None) -> None:
        self._messages = messages  # the process's cache of message JSON, shared by every run
        self._objects: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None  # JSON of the last values event

    def encode(self, chunk: Any) -> tuple[Any, bool]:
        """(what to store, whether it is a delta against the previous `values` event of the run)."""
        if not isinstance(chunk, Mapping):
            self._objects, self.state = None, None
            return to_json(chunk, self._messages), False
        current = dict(chunk)
        before, state = self._objects, self.state
        if before is None or state is None:
            self._objects, self.state = current, to_json(current, self._messages)
            return dict(self.state), False  # a copy: later deltas replace keys of self.state
        delta: dict[str, Any] = {}
        changed: dict[str, Any] = {}
        grown: dict[str, Any] = {}
        for key, value in current.items():
            old = before.get(key, _MISSING)
            if value is old:
                continue
            if _grew(old, value):
                if len(value) == len(old):
                    continue
                tail = to_json(value[len(old) :], self._messages)
                grown[str(key)] = tail
                state[str(key)] = state[str(key)] + tail
                continue
            changed[str(key)] = state[str(key)] = to_json(value, self._messages)
        dropped = [str(k) for k in before if k not in current]
        for key in dropped:
            state.pop(key, None)
        if changed:
            delta["set"] = changed
        if grown:
            delta["append"] = grown
        if dropped:
            delta["drop"] = dropped
        self._objects = current
        return delta, True

    def json_of(self, values: Any) -> Any:
        """JSON of `values`, taking the last encoded state's JSON for every key that holds the same
        object (the run's final state read back from its checkpoint does, for the conversation), so a
        long conversation is not dumped twice."""
        before, state = self._objects, self.state
        if not isinstance(values, Mapping) or before is None or state is None:
            return to_json(values, self._messages)
        out: dict[str, Any] = {}
        for key, value in values.items():
            old = before.get(key, _MISSING)
            same = old is not _MISSING and (value is old or _same_items(old, value)) and str(key) in state
            out[str(key)] = state[str(key)] if same else to_json(value, self._messages)
        return out


def _same_items(before: Any, after: Any) -> bool:
    return isinstance(after, list) and _grew(before, after) and len(after) == len(before)


_MISSING = object()


def apply(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """The whole state a delta describes; `base` is left unchanged."""
    state = dict(base)
    for key in delta.get("drop", ()):
        state.pop(key, None)
    state.update(delta.get("set", {}))
    for key, tail in delta.get("append", {}).items():
        state[key] = list(state.get(key) or []) + tail
    for key, length in delta.get("truncate", {}).items():
        state[key] = list(state.get(key) or [])[:length]
    return state


class ValuesDecoder:
    """A reader's view of one run's `values` events: whole states, rebuilt in order. Holds the last one,
    so a reader that follows the stream applies each delta once; a reader that starts in the middle
    (a join without Last-Event-ID) loads the chain from its keyframe once (`repo.values_chain`)."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.state: dict[str, Any] | None = None

    def take(self, seq: int, data: Any, base_seq: int | None) -> Any:
        if base_seq is None:
            self.seq, self.state = seq, data if isinstance(data, dict) else None
            return data
        if self.seq != base_seq or self.state is None:
            raise LookupError(f"values event {seq} needs event {base_seq}, which this reader has not seen")
        self.seq, self.state = seq, apply(self.state, data)
        return self.state
