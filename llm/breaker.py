"""Circuit breakers per model (`provider:model`): closed → open after N consecutive failed calls → half-open
after the reset time, when one probe call is let through → closed on its success, open again on its failure.

The state lives in a `BreakerStore`, shared by every replica in the service (handrail/breakers.py: Redis,
Postgres when Redis is down or unset) or kept in memory here. The hot path stays cheap: `admit` reads an
in-process snapshot of the shared state, refreshed at most every `refresh_s` (one store round trip for
every model at once), and a success writes nothing while the snapshot shows no failures. Only failures,
the probe's claim and the success that closes a breaker write to the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeVar

logger = logging.getLogger("handrail.models")

Admission = Literal["closed", "probe", "open"]
StateName = Literal["closed", "open", "half_open"]
_EVENTS = {"open": "model_breaker.opened", "half_open": "model_breaker.half_open", "closed": "model_breaker.closed"}
T = TypeVar("T")
STORE_WAIT_S = 2.0  # longest a model call waits on the breakers' store before it goes on with what it knew


@dataclass(frozen=True)
class BreakerState:
    """One model's record. Times are epoch seconds on the store's clock."""

    failures: int = 0
    """Failed calls in a row."""
    opened_at: float | None = None
    probe_until: float | None = None
    """While a half-open probe is out, no other call is let through until then (a lease: a probe whose
    process died does not hold the breaker open for ever)."""


CLOSED = BreakerState()


class BreakerStore(Protocol):
    """Where breakers' states are kept; every operation is atomic in the store."""

    @property
    def kind(self) -> str:
        """Where the state is kept (for logs): memory, redis, postgres."""
        ...

    async def read(self, keys: Sequence[str]) -> dict[str, BreakerState]:
        """The states of `keys` (missing ones are closed)."""
        ...

    async def failed(self, key: str, *, threshold: int, reset_s: float) -> BreakerState:
        """Count a failed call: opens at `threshold` in a row; a failure once half-open re-opens it."""
        ...

    async def succeeded(self, key: str) -> None:
        """Close the breaker and forget its failures."""
        ...

    async def claim_probe(self, key: str, *, reset_s: float, lease_s: float) -> bool:
        """True for the one caller that may probe a breaker open for `reset_s` (until `lease_s` passes)."""
        ...


def after_failure(state: BreakerState, now: float, *, threshold: int, reset_s: float) -> BreakerState:
    """What one more failed call makes of `state` (the stores in handrail/breakers.py do the same in Lua and SQL)."""
    state = replace(state, failures=state.failures + 1)
    if state.opened_at is None:
        return replace(state, opened_at=now) if state.failures >= threshold else state
    if now >= state.opened_at + reset_s:  # half-open, and the probe failed: open for another period
        return replace(state, opened_at=now, probe_until=None)
    return state  # a call admitted before the breaker opened, failing late: the period stands


class MemoryStore:
    """The store of one process (tests, `langgraph dev`, a service with neither Redis nor Postgres reachable)."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._states: dict[str, BreakerState] = {}

    async def read(self, keys: Sequence[str]) -> dict[str, BreakerState]:
        return {k: self._states[k] for k in keys if k in self._states}

    async def failed(self, key: str, *, threshold: int, reset_s: float) -> BreakerState:
        state = after_failure(self._states.get(key, CLOSED), self._clock(), threshold=threshold, reset_s=reset_s)
        self._states[key] = state
        return state

    async def succeeded(self, key: str) -> None:
        self._states.pop(key, None)

    async def claim_probe(self, key: str, *, reset_s: float, lease_s: float) -> bool:
        now, state = self._clock(), self._states.get(key, CLOSED)
        if state.opened_at is None or now < state.opened_at + reset_s:
            return False
        if state.probe_until is not None and state.probe_until > now:
            return False
        self._states[key] = replace(state, probe_until=now + lease_s)
        return True


class _Snapshot(dict[str, BreakerState]):
    """What this process knows of each breaker; tells `seen(key, is_open)` when a breaker's open-ness changes."""

    def __init__(self, seen: Callable[[str, bool], None]) -> None:
        super().__init__()
        self._seen = seen

    def __setitem__(self, key: str, state: BreakerState) -> None:
        was = self.get(key)
        super().__setitem__(key, state)
        if (was.opened_at if was is not None else None) is None and state.opened_at is None:
            return
        if was is None or (was.opened_at is None) != (state.opened_at is None):
            self._seen(key, state.opened_at is not None)


class Breakers:
    """Every model's breaker in this process, over a (possibly shared) store.

    `on_change(model, state)` is told of each transition this process makes (metrics); the transitions
    are logged as `model_breaker.opened`, `.half_open` and `.closed`. `on_seen(model, is_open)` is told
    whenever the snapshot's view changes, whichever replica changed it (a gauge). A store that fails or is slow never
    fails a model call: the last known state is used, and the failure is logged once until it recovers."""

    def __init__(
        self,
        store: BreakerStore,
        *,
        failures: int = 5,
        reset_s: float = 30.0,
        refresh_s: float = 1.0,
        probe_lease_s: float | None = None,
        on_change: Callable[[str, StateName], None] | None = None,
        on_seen: Callable[[str, bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.failures, self.reset_s, self.refresh_s = failures, reset_s, refresh_s
        self.probe_lease_s = probe_lease_s if probe_lease_s is not None else max(reset_s, 5.0)
        self._on_change, self._on_seen, self._clock = on_change, on_seen, clock
        self._known: _Snapshot = _Snapshot(self._seen)
        self._read_at: float | None = None
        self._reading: asyncio.Lock | None = None
        self._store_down = False

    # -- what the chains ask and tell -----------------------------------------------------------------

    async def admit(self, key: str) -> Admission:
        """`closed`: call it; `probe`: call it once, as the half-open probe; `open`: skip it."""
        self._known.setdefault(key, CLOSED)
        await self._maybe_refresh()
        state = self._known[key]
        if state.opened_at is None:
            return "closed"
        now = self._clock()
        if now < state.opened_at + self.reset_s or (state.probe_until is not None and state.probe_until > now):
            return "open"
        stored, won = await self._store(self.store.claim_probe(key, reset_s=self.reset_s, lease_s=self.probe_lease_s))
        if stored and not won:  # another caller (here or on another replica) is probing
            return "open"
        self._known[key] = replace(state, probe_until=now + self.probe_lease_s)
        self._changed(key, "half_open", "")
        return "probe"

    async def record(self, key: str, *, ok: bool, reason: str = "") -> None:
        """The outcome of a call `admit` let through."""
        before = self._known.get(key, CLOSED)
        if ok:
            if before == CLOSED:
                return  # the common case: nothing to write
            await self._store(self.store.succeeded(key))  # if the store is unreachable: closed here at least
            self._known[key] = CLOSED
            if before.opened_at is not None:
                self._changed(key, "closed", reason)
            return
        _, after = await self._store(self.store.failed(key, threshold=self.failures, reset_s=self.reset_s))
        if after is None:  # the store is unreachable: this process keeps count on its own
            after = after_failure(before, self._clock(), threshold=self.failures, reset_s=self.reset_s)
        self._known[key] = after
        if after.opened_at is not None and after.opened_at != before.opened_at:
            self._changed(key, "open", reason)

    # -- what operators see ---------------------------------------------------------------------------

    def open_breakers(self) -> list[str]:
        """The models whose breaker is open or half-open, as of this process's last look (at most
        `refresh_s` old while calls are made; `await refresh()` first for the store's state now)."""
        return sorted(k for k, s in self._known.items() if s.opened_at is not None)

    def state(self, key: str) -> StateName:
        state = self._known.get(key, CLOSED)
        if state.opened_at is None:
            return "closed"
        return "open" if self._clock() < state.opened_at + self.reset_s else "half_open"

    def watch(self, keys: Sequence[str]) -> None:
        """Follow these models from the start (so `open_breakers` reports them before this process calls them)."""
        for key in keys:
            self._known.setdefault(key, CLOSED)

    async def refresh(self) -> None:
        """Read every followed model's state from the store now."""
        keys = list(self._known)
        _, states = await self._store(self.store.read(keys))
        self._read_at = self._clock()
        if states is not None:
            for key in keys:
                self._known[key] = states.get(key, CLOSED)

    # -- inside ---------------------------------------------------------------------------------------

    async def _maybe_refresh(self) -> None:
        if self._read_at is not None and self._clock() - self._read_at < self.refresh_s:
            return
        if self._reading is None:
            self._reading = asyncio.Lock()
        async with self._reading:  # concurrent callers share one read
            if self._read_at is None or self._clock() - self._read_at >= self.refresh_s:
                await self.refresh()

    async def _store(self, operation: Awaitable[T]) -> tuple[bool, T | None]:
        """(True, its result), or (False, None) when the store failed or was slow."""
        try:
            async with asyncio.timeout(STORE_WAIT_S):
                result = await operation
        except Exception as exc:  # the breaker is an optimisation: it must never fail the call it guards
            if not self._store_down:
                self._store_down = True
                logger.warning(
                    "model_breaker.store_failed",
                    extra={"store": self.store.kind, "error": type(exc).__name__},
                    exc_info=exc,
                )
            return False, None
        if self._store_down:
            self._store_down = False
            logger.info("model_breaker.store_recovered", extra={"store": self.store.kind})
        return True, result

    def _seen(self, key: str, is_open: bool) -> None:
        if self._on_seen is not None:
            self._on_seen(key, is_open)

    def _changed(self, key: str, state: StateName, reason: str) -> None:
        level = logging.WARNING if state == "open" else logging.INFO
        extra = {"model": key, "reset_s": self.reset_s, "failures": self.failures, "reason": reason}
        logger.log(level, _EVENTS[state], extra=extra)
        if self._on_change is not None:
            self._on_change(key, state)
