"""What one run did and cost: its model calls and tool calls, as they happen, summed when it ends.

Stored with the run (`runs.summary`, written by the statement that finishes it) and returned by
GET /threads/{id}/runs/{run_id} as `summary`. Model calls are seen through a callback on every model
call of the run; tool calls through the execute node's tool observer, attributed to the run by a
context variable that LangGraph's node tasks inherit from the run's task. The same events feed the
Prometheus counters.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

from handrail.metrics import Metrics
from llm.usage import Prices, Usage, usage_of

MAX_STEPS = 200  # entries kept per summary: a looping run must not write an unbounded row

current: ContextVar[RunRecorder | None] = ContextVar("handrail_run_recorder", default=None)


class RunRecorder(AsyncCallbackHandler):
    """One run's model and tool calls, in order."""

    def __init__(
        self, metrics: Metrics, prices: Prices | None = None, on_cost: Callable[[float], Awaitable[None]] | None = None
    ) -> None:
        self._metrics, self._prices = metrics, prices
        self._on_cost = on_cost  # the spend ledger: a user's day, the deployment's hour
        self.started = time.monotonic()
        self.supersteps = 0
        self.cost_usd = 0.0
        self.tokens = 0
        self.steps: list[dict[str, Any]] = []
        self._calls: dict[uuid.UUID, tuple[str, float]] = {}  # model call id -> (node, started)
        self.dropped = 0
        self.paused = False  # the run ended paused (an approval, a breakpoint): its turn goes on later

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: uuid.UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._calls[run_id] = (str((metadata or {}).get("langgraph_node") or ""), time.monotonic())

    async def on_llm_end(self, response: LLMResult, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        node, started = self._calls.pop(run_id, ("", time.monotonic()))
        before = self.cost_usd
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if isinstance(message, AIMessage):
                    self._model_answer(node, message, time.monotonic() - started)
        if self._on_cost is not None and self.cost_usd > before:
            await self._on_cost(self.cost_usd - before)

    async def on_llm_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        node, started = self._calls.pop(run_id, ("", time.monotonic()))
        self._add({"node": node, "kind": "llm", "name": "", "ok": False, "latency_ms": _ms(started)})

    def _model_answer(self, node: str, message: AIMessage, seconds: float) -> None:
        usage = message.usage_metadata or {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        model = str(message.response_metadata.get("model_name") or "unknown")
        cost = usage_of(message, self._prices).cost_usd
        self._metrics.tokens.labels(model, "input").inc(usage["input_tokens"])
        self._metrics.tokens.labels(model, "output").inc(usage["output_tokens"])
        self._metrics.cost.labels(model).inc(cost)
        self.cost_usd += cost
        self.tokens += usage["input_tokens"] + usage["output_tokens"]
        self._add(
            {
                "node": node,
                "kind": "llm",
                "name": model,
                "tokens_in": usage["input_tokens"],
                "tokens_out": usage["output_tokens"],
                "cost_usd": cost,
                "ok": True,
                "latency_ms": round(seconds * 1000, 1),
            }
        )

    def tool_finished(self, tool: str, ok: bool, seconds: float) -> None:
        self._add({"node": "execute", "kind": "tool", "name": tool, "ok": ok, "latency_ms": round(seconds * 1000, 1)})

    def _add(self, step: dict[str, Any]) -> None:
        if len(self.steps) < MAX_STEPS:
            self.steps.append(step)
        else:
            self.dropped += 1

    def summary(self, run: dict[str, Any], outcome: str) -> dict[str, Any]:
        models = sorted({s["name"] for s in self.steps if s["kind"] == "llm" and s["name"]})
        created = run.get("created_at")
        wall_ms = (datetime.now(UTC) - created).total_seconds() * 1000 if isinstance(created, datetime) else None
        return {
            "user_id": run.get("user_id"),
            "thread_id": str(run["thread_id"]),
            "outcome": outcome,
            "paused": self.paused,
            "models": models,
            "tokens_in": sum(s.get("tokens_in", 0) for s in self.steps),
            "tokens_out": sum(s.get("tokens_out", 0) for s in self.steps),
            "cost_usd": round(self.cost_usd, 8),
            # agent: this run's execution (an approval wait is between runs, never inside one);
            # wall: from the run's creation, its time in the queue included.
            "duration_ms": {"agent": _ms(self.started), "wall": round(wall_ms, 1) if wall_ms is not None else None},
            "supersteps": self.supersteps,
            "steps": self.steps,
            "steps_dropped": self.dropped,
        }


def observe_tool(metrics: Metrics) -> Any:
    """The tool observer of a process: the counters, and the summary of the run the call belongs to."""

    def observe(tool: str, ok: bool, seconds: float) -> None:
        metrics.tool_finished(tool, ok, seconds)
        recorder = current.get()
        if recorder is not None:
            recorder.tool_finished(tool, ok, seconds)

    return observe


def run_spent() -> Usage | None:
    """What the model calls of the run in this context have used so far, as this process counted them
    (graph.context.Guards.run_spent): budgets check it, since the graph's own counters can be rewritten."""
    recorder = current.get()
    return Usage(recorder.tokens, recorder.cost_usd) if recorder is not None else None


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
