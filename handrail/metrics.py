"""Prometheus metrics: what an on-call operator graphs, served at GET /metrics.

Counters and histograms are recorded where things happen (a run ends, a tool returns, a model answers,
an approval is decided, a dead worker's run is taken over, a webhook attempt fails, a request is
answered). What is a state rather than an event (queue depth, the oldest queued run, approvals
pending, runs running) is read from Postgres at scrape time, so every replica and worker process
reports the same truth. With several server processes (`PROCESSES`), each writes its samples to
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, set up by handrail.processes) and a
scrape of any process adds them all up.

Labels stay low-cardinality: outcomes, tool and model names, route templates, never ids or raw paths.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.db import Pool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RUN_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
_WAIT_S = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)

_STATE = """
SELECT
  (SELECT count(*) FROM runs WHERE status = 'pending' AND available_at <= now()) AS queued,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM runs
    WHERE status = 'pending' AND available_at <= now()) AS oldest_queued_s,
  (SELECT count(*) FROM runs WHERE status = 'running') AS running,
  (SELECT count(*) FROM approvals WHERE status = 'pending') AS approvals_pending,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM approvals
    WHERE status = 'pending') AS oldest_approval_s,
  (SELECT count(*) FROM handoffs WHERE status = 'open') AS handoffs_open
"""


class Metrics:
    """The process's metrics. One per Services: tests run many apps in one process, each with its own
    registry (in multiprocess mode the samples go to files whatever the registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("handrail_runs", "Runs that ended, by outcome.", ["outcome"], registry=r)
        self.run_seconds = Histogram(
            "handrail_run_duration_seconds", "Wall time of a run's execution.", ["outcome"], buckets=_RUN_S, registry=r
        )
        self.run_steps = Histogram(
            "handrail_run_steps",
            "Super-steps one run executed (the agent loop's length).",
            buckets=(1, 2, 4, 6, 8, 12, 16, 24, 32, 50),
            registry=r,
        )
        self.tool_calls = Counter(
            "handrail_tool_calls", "Tool calls, by tool and result.", ["tool", "status"], registry=r
        )
        self.tool_seconds = Histogram(
            "handrail_tool_call_duration_seconds", "Tool call latency.", ["tool"], buckets=_LATENCY_S, registry=r
        )
        self.tokens = Counter(
            "handrail_tokens", "Model tokens, by model and direction.", ["model", "direction"], registry=r
        )
        self.cost = Counter(
            "handrail_cost_usd", "Model cost in USD (llm/usage.py prices), by model.", ["model"], registry=r
        )
        self.successful_run_cost = Histogram(
            "handrail_successful_run_cost_usd",
            "Model cost of one successful run.",
            buckets=(0, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=r,
        )
        self.approval_wait = Histogram(
            "handrail_approval_wait_seconds",
            "From an approval's request to its decision, by decision.",
            ["decision"],
            buckets=_WAIT_S,
            registry=r,
        )
        self.handoffs = Counter(
            "handrail_handoffs",
            "Conversations handed to a person, by reason (the signal that fired) and priority.",
            ["reason", "priority"],
            registry=r,
        )
        self.handoff_first_reply = Histogram(
            "handrail_handoff_first_reply_seconds",
            "From a handoff to the person's first reply, by priority.",
            ["priority"],
            buckets=_WAIT_S,
            registry=r,
        )
        self.taken_over = Counter(
            "handrail_runs_taken_over",
            "Runs put back in the queue after their worker died, or failed.",
            ["result"],
            registry=r,
        )
        self.webhook_failures = Counter(
            "handrail_webhook_failures", "Webhook delivery attempts that failed, by event.", ["event"], registry=r
        )
        self.tool_switch_refusals = Counter(
            "handrail_tool_switch_refusals",
            "Tool calls not run because an operator switched the tool off, by tool.",
            ["tool"],
            registry=r,
        )
        self.tool_cache = Counter(
            "handrail_tool_cache",
            "Tool result cache lookups, by tool and result (hit, miss, skipped: Redis unavailable, the call ran "
            "uncached).",
            ["tool", "result"],
            registry=r,
        )
        self.tool_retries = Counter(
            "handrail_tool_retries", "Tool calls tried again after a transient failure, by tool.", ["tool"], registry=r
        )
        self.tool_breaker_transitions = Counter(
            "handrail_tool_breaker_transitions",
            "Tool circuit breakers changing state, by tool and the state entered (open, half_open, closed).",
            ["tool", "state"],
            registry=r,
        )
        self.tool_breaker_refusals = Counter(
            "handrail_tool_breaker_refusals",
            "Tool calls not made because the tool's breaker was open, by tool.",
            ["tool"],
            registry=r,
        )
        self.rate_limited = Counter(
            "handrail_rate_limited_requests",
            "Requests refused by RATE_LIMIT_PER_MINUTE (429), by where the window was counted (redis, local).",
            ["backend"],
            registry=r,
        )
        self.budget_refusals = Counter(
            "handrail_budget_refusals",
            "Runs refused before they started, by budget (user_daily: 429, global_hourly: 503).",
            ["budget"],
            registry=r,
        )
        self.guardrails = Counter(
            "handrail_guardrail_events",
            "Guardrails that fired, by guardrail (layer.rule) and action (blocked: refused or stopped; changed: "
            "redacted, fenced or corrected and let through).",
            ["guardrail", "action"],
            registry=r,
        )
        self.model_retries = Counter(
            "handrail_model_retries",
            "Model calls tried again after a transient failure, by model (provider:model) and kind (rate_limited, "
            "server_error, timeout, connection, malformed).",
            ["model", "kind"],
            registry=r,
        )
        self.model_fallbacks = Counter(
            "handrail_model_fallbacks",
            "Model calls answered by a fallback because the models before it failed or their breaker was open, "
            "by role and the model that answered.",
            ["role", "model"],
            registry=r,
        )
        self.model_chain_failures = Counter(
            "handrail_model_chain_failures",
            "Model calls that no model of the role's chain answered (the turn then ends gracefully), by role.",
            ["role"],
            registry=r,
        )
        self.model_breaker_transitions = Counter(
            "handrail_model_breaker_transitions",
            "Model circuit breakers changing state in this process, by model and the state entered (open, "
            "half_open, closed).",
            ["model", "state"],
            registry=r,
        )
        self.model_breaker_open = Gauge(
            "handrail_model_breaker_open",
            "1 while a model's circuit breaker is open or half-open (shared state, as this process last read it).",
            ["model"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.http_requests = Counter(
            "handrail_http_requests",
            "HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "handrail_http_request_duration_seconds",
            "Time to the response's start, by method and route template (a stream's length is not counted).",
            ["method", "route"],
            buckets=_LATENCY_S,
            registry=r,
        )

        self.degraded = Gauge(
            "handrail_degraded",
            "1 while a component is degraded or down in this process (redis: wake-ups fell back to Postgres "
            "LISTEN/NOTIFY; postgres: unreachable), else 0. handrail/health.py.",
            ["component"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.degradations = Counter(
            "handrail_degradation_transitions",
            "Degradations starting and ending, by component and transition (started, ended).",
            ["component", "transition"],
            registry=r,
        )

    def run_ended(self, outcome: str, seconds: float, steps: int, cost_usd: float) -> None:
        self.runs.labels(outcome).inc()
        self.run_seconds.labels(outcome).observe(seconds)
        self.run_steps.observe(steps)
        if outcome == "success":
            self.successful_run_cost.observe(cost_usd)

    def tool_finished(self, tool: str, ok: bool, seconds: float) -> None:
        self.tool_calls.labels(tool, "ok" if ok else "error").inc()
        self.tool_seconds.labels(tool).observe(seconds)

    def approval_decided(self, decision: str, seconds: float) -> None:
        self.approval_wait.labels(decision).observe(max(seconds, 0.0))

    def handoff_requested(self, reason: str, priority: str) -> None:
        self.handoffs.labels(reason, priority).inc()

    def handoff_replied(self, priority: str, seconds: float) -> None:
        self.handoff_first_reply.labels(priority).observe(max(seconds, 0.0))

    async def exposition(self, pool: Pool) -> bytes:
        """The text a scrape gets: this process's (or every process's) samples, then the state read
        from Postgres now."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        async with pool.connection() as conn:
            row = await (await conn.execute(_STATE)).fetchone()
        state = CollectorRegistry()
        state.register(_Snapshot(row or {}))
        return generate_latest(registry) + generate_latest(state)


class _Snapshot:
    """Gauges read from Postgres at scrape time."""

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def collect(self) -> Any:
        for key, name, doc in (
            ("queued", "handrail_queue_depth", "Runs queued and due, not yet started."),
            ("oldest_queued_s", "handrail_queue_oldest_age_seconds", "Age of the oldest queued, due run."),
            ("running", "handrail_runs_running", "Runs executing now."),
            ("approvals_pending", "handrail_approvals_pending", "Approvals waiting for a decision."),
            ("oldest_approval_s", "handrail_approval_oldest_age_seconds", "Age of the oldest pending approval."),
            ("handoffs_open", "handrail_handoffs_open", "Conversations with a person now (open handoffs)."),
        ):
            yield GaugeMetricFamily(name, doc, value=float(self._row.get(key) or 0))


class HttpMetrics:
    """Pure ASGI: counts requests and times them to the response's start, by route template (the
    matched route's path, e.g. /threads/{thread_id}/runs), so ids never become labels."""

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self._metrics = metrics  # a callable returning the Metrics once the app has started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                metrics = self._metrics()
                if metrics is not None:
                    route = _route(scope)
                    metrics.http_seconds.labels(scope["method"], route).observe(time.perf_counter() - started)
                    metrics.http_requests.labels(scope["method"], route, str(status)).inc()
            await send(message)

        await self.app(scope, receive, sending)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
