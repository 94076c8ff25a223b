"""A circuit breaker per tool: after `failures` calls in a row fail for a transient reason, the tool is not
called for `reset_s`; then one trial call is let through (half-open), and its outcome closes or re-opens it.

The state is kept in this process, on purpose. A tool failing is often local to the process that calls it
(its connection pool, its network path, a wedged client); the state is cheap to learn again (a new process
makes at most `failures` failing calls before its own breaker opens); and a shared store would put a
round trip, or a snapshot refresh, in front of calls that mostly take microseconds, and make the component
whose job is to ride out outages depend on Redis or Postgres. Models are different (a provider is down for
every replica alike, and a wasted call costs seconds and money), which is why their breakers are shared
(llm/breaker.py, handrail/breakers.py, written alongside this module). Should tools need that too, adapt
`llm.breaker.Breakers` behind this class's four calls (`admit`, `succeeded`, `failed`, `release`).

What counts as a failure is the runner's call: timeouts, crashes and results marked `retryable`, after
retries. An answer (`ok=False` such as "no ticket 42") shows the tool works, and closes the count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger("handrail.tools")

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class _Breaker:
    state: BreakerState = "closed"
    failures: int = 0
    last_error: str = ""
    opened_at: float = 0.0
    trial_running: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why a call was not made: the text the model reads instead of a result."""

    message: str


class ToolBreakers:
    """The breakers of every tool in this process. `failures=0` turns them off."""

    def __init__(
        self,
        failures: int = 5,
        reset_s: float = 30.0,
        *,
        on_change: Callable[[str, BreakerState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures, self.reset_s = failures, reset_s
        self._on_change, self._clock = on_change, clock
        self._breakers: dict[str, _Breaker] = {}

    @property
    def enabled(self) -> bool:
        return self.failures > 0

    def state(self, tool: str) -> BreakerState:
        breaker = self._breakers.get(tool)
        return breaker.state if breaker is not None else "closed"

    def open_tool_breakers(self) -> list[str]:
        """The tools not being called now (open, or half-open with their trial call running), sorted: for /ok."""
        return sorted(
            name
            for name, b in self._breakers.items()
            if b.state == "open" or (b.state == "half_open" and b.trial_running)
        )

    def admit(self, tool: str) -> Refusal | None:
        """None: make the call (and report it with `succeeded` or `failed`). A Refusal: do not call the tool."""
        if not self.enabled:
            return None
        breaker = self._breakers.get(tool)
        if breaker is None or breaker.state == "closed":
            return None
        waited = self._clock() - breaker.opened_at
        if breaker.state == "open" and waited >= self.reset_s:
            self._move(tool, breaker, "half_open")
        if breaker.state == "half_open" and not breaker.trial_running:
            breaker.trial_running = True  # this call is the trial; others are refused until it ends
            return None
        when = (
            "a trial call is running now"
            if breaker.state == "half_open"
            else (f"it will be tried again in about {max(self.reset_s - waited, 1.0):.0f} s")
        )
        return Refusal(
            f"{tool} is failing ({breaker.failures} failures in a row; last: {breaker.last_error}); it was not "
            f"called and {when}. Try later or another way, or tell the user it is unavailable right now."
        )

    def succeeded(self, tool: str) -> None:
        """The call ended with an answer (a success, or a failure that is not transient)."""
        breaker = self._breakers.get(tool)
        if breaker is None:
            return
        breaker.failures, breaker.trial_running = 0, False
        if breaker.state != "closed":
            self._move(tool, breaker, "closed")

    def failed(self, tool: str, error: str) -> None:
        """The call failed for a transient reason (after its retries)."""
        if not self.enabled:
            return
        breaker = self._breakers.setdefault(tool, _Breaker())
        breaker.failures += 1
        breaker.last_error = error
        breaker.trial_running = False
        if breaker.state == "half_open" or (breaker.state == "closed" and breaker.failures >= self.failures):
            breaker.opened_at = self._clock()
            self._move(tool, breaker, "open")

    def release(self, tool: str) -> None:
        """The admitted call ended without an outcome (cancelled): another call may be the trial."""
        breaker = self._breakers.get(tool)
        if breaker is not None:
            breaker.trial_running = False

    def _move(self, tool: str, breaker: _Breaker, state: BreakerState) -> None:
        breaker.state = state
        extra = {"tool": tool, "state": state, "failures": breaker.failures}
        if state == "open":
            logger.warning(
                "tool.breaker_opened", extra={**extra, "last_error": breaker.last_error, "reset_s": self.reset_s}
            )
        elif state == "closed":
            logger.info("tool.breaker_closed", extra=extra)
        else:
            logger.info("tool.breaker_half_open", extra=extra)
        if self._on_change is not None:
            self._on_change(tool, state)
