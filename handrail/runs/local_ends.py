"""The end of a run that finished in this process, handed straight to a wait in this process.

A wait used to read the end marker back from Postgres after its wake-up, and with it the run's whole
final state (two statements, and decoding a long conversation again). When the run ran here, the
worker that finished it already holds that output: it leaves it for the waits that asked. A wait for
a run that ran elsewhere, or that ended before it asked, reads Postgres as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Slot:
    """Where one wait finds the run's end, if the run ends in this process while it waits."""

    def __init__(self) -> None:
        self.end: dict[str, Any] | None = None


class LocalEnds:
    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, list[Slot]] = {}

    @contextmanager
    def expecting(self, run_id: uuid.UUID) -> Iterator[Slot]:
        slot = Slot()
        self._waiting.setdefault(run_id, []).append(slot)
        try:
            yield slot
        finally:
            slots = [s for s in self._waiting.get(run_id, []) if s is not slot]
            if slots:
                self._waiting[run_id] = slots
            else:
                self._waiting.pop(run_id, None)

    def put(self, run_id: uuid.UUID, end: dict[str, Any]) -> bool:
        """Hand `end` to every wait for the run in this process; False when none is waiting."""
        slots = self._waiting.get(run_id, [])
        for slot in slots:
            slot.end = end
        return bool(slots)
