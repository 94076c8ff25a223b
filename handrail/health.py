"""What is degraded in this process right now, kept live by the components that notice it (the bus notices
Redis failing and Postgres' LISTEN connection dropping), so that /ok answers from memory, not a round trip.

Each start and end of a degradation is one `degradation.started` / `degradation.ended` log event and one
transition of `handrail_degraded{component}` (1/0) and `handrail_degradation_transitions`, however many
operations fail in between.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from handrail.metrics import Metrics

logger = logging.getLogger("handrail.health")

REDIS = "redis"
POSTGRES = "postgres"


@dataclass(frozen=True)
class Degradation:
    component: str
    reason: str
    since: float  # time.monotonic()


class Health:
    """The components of this process that are degraded, with why, since when."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics
        self._current: dict[str, Degradation] = {}

    def watch(self, component: str) -> None:
        """Expose the component's gauge at 0 before anything happens, so a dashboard sees the series."""
        if self._metrics is not None and component not in self._current:
            self._metrics.degraded.labels(component).set(0)

    def degraded(self, component: str, reason: str) -> None:
        """`component` is degraded; logged and counted only if it was not already."""
        if component in self._current:
            return
        self._current[component] = Degradation(component, reason, time.monotonic())
        logger.warning("degradation.started", extra={"component": component, "reason": reason})
        if self._metrics is not None:
            self._metrics.degraded.labels(component).set(1)
            self._metrics.degradations.labels(component, "started").inc()

    def recovered(self, component: str) -> None:
        """`component` works again; logged and counted only if it was degraded."""
        ended = self._current.pop(component, None)
        if ended is None:
            return
        logger.info(
            "degradation.ended",
            extra={
                "component": component,
                "reason": ended.reason,
                "lasted_s": round(time.monotonic() - ended.since, 3),
            },
        )
        if self._metrics is not None:
            self._metrics.degraded.labels(component).set(0)
            self._metrics.degradations.labels(component, "ended").inc()

    def is_degraded(self, component: str) -> bool:
        return component in self._current

    def reasons(self) -> list[str]:
        """One line per degradation, for /ok and /info: `redis: <why>`."""
        return [f"{d.component}: {d.reason}" for d in self._current.values()]
