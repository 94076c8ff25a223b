"""What a run's later attempt emits again, and is not written twice.

An attempt that continues a run from its checkpoint (after its worker died or lost Postgres) starts by
emitting the checkpoint's state as a `values` event, then `updates` of the tasks whose writes were saved
(LangGraph marks them cached), then the next state: events the previous attempt may already have written.
The previous attempt's log is read once; the new attempt's first `values` is found in it, and the events
that follow it in the log are matched one by one against what the new attempt emits, which is skipped
until the first difference (from there on the run is doing new work, or the log lost that part)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from handrail.db import Pool
from handrail.runs import event_log
from handrail.runs.events import VALUES
from handrail.serialize import dumps_json

TAIL = 50  # events of the previous attempt read back: a resumed step emits a handful


def _plain(data: Any) -> Any:
    """JSON as it reads back from the log, to compare what the graph emits with what was written."""
    text = dumps_json(data)
    return json.loads(text)


def _key(event: str, data: Any) -> Any:
    if event == VALUES:
        return _plain(data)
    if event.startswith("updates") and isinstance(data, dict):
        return sorted(k for k in data if k != "__metadata__")
    return _plain(data)


class Replay:
    """The previous attempts' events after the point the new attempt restarts from."""

    def __init__(self, top: int, recorded: list[tuple[int, str, Any]]) -> None:
        self.top = top  # the log's last seq when this attempt started
        self._recorded = recorded  # (seq, event, key) of the log's tail
        self._expected: list[tuple[int, str, Any]] | None = None  # None until the first `values` is placed
        self._done = not recorded

    @classmethod
    async def load(cls, pool: Pool, run_id: uuid.UUID) -> Replay:
        top = await event_log.last_seq(pool, run_id)
        rows = await event_log.events_after(pool, run_id, max(0, top - TAIL))
        return cls(top, [(row["seq"], row["event"], _key(row["event"], row["data"])) for row in rows])

    def recorded(self, event: str, data: Any) -> int | None:
        """The seq of this event in the log if the previous attempt wrote it (skip it), else None."""
        if self._done:
            return None
        key = _key(event, data)
        if self._expected is None:
            if event != VALUES:
                self._done = True
                return None
            for index in range(len(self._recorded) - 1, -1, -1):
                seq, kind, recorded_key = self._recorded[index]
                if kind == VALUES and recorded_key == key:
                    self._expected = self._recorded[index + 1 :]
                    return seq
            self._done = True
            return None
        if self._expected and self._expected[0][1] == event and self._expected[0][2] == key:
            seq = self._expected.pop(0)[0]
            return seq
        self._done = True
        return None
