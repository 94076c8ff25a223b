"""Per-run context (immutable, never checkpointed) and the dependencies the graph is built with."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from llm.usage import PRICES, Prices
from tools.gate import ApprovalGate, NoApprovalLedger

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.runtime import Runtime

    from graph.state import AgentState
    from tools.registry import Registry


class NodeFn(Protocol):
    """What every node factory returns: LangGraph passes the runtime by keyword."""

    def __call__(self, state: AgentState, *, runtime: Runtime[RunContext]) -> Awaitable[dict[str, Any]]: ...


@dataclass(frozen=True)
class RunContext:
    """Who runs and within which limits. Passed as `context=`; the model never sees it."""

    user_id: str = "anonymous"
    max_steps: int = 8
    max_replans: int = 2
    tool_timeout_s: float = 10.0
    run_timeout_s: float = 300.0

    def narrowed(self, requested: Mapping[str, Any]) -> RunContext:
        """These limits, narrowed by a run's or an assistant's `context`. A limit can only be lowered:
        a higher (or unusable) value raises LimitError naming the ceiling, since the deployment's
        settings are the promise operators make about cost and reach. Other keys are not limits and
        are left alone; `user_id` always comes from authentication, never from the request."""
        changes: dict[str, Any] = {}
        for name, (kind, floor) in _LIMITS.items():
            if name not in requested or requested[name] is None:
                continue
            value: Any = requested[name]
            ceiling = getattr(self, name)
            setting = name.upper()
            number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            usable = number and isinstance(value, kind)
            if not usable or value < floor:
                what = "whole number" if kind is int else "number"
                raise LimitError(f"context.{name} must be a {what} of at least {floor:g}, got {value!r}")
            if value > ceiling:
                raise LimitError(
                    f"context.{name}={value!r} is above this deployment's ceiling of {ceiling:g} ({setting}); "
                    "a run or an assistant may only narrow the limits, not raise them"
                )
            changes[name] = value
        return dataclasses.replace(self, **changes)


class LimitError(ValueError):
    """A requested run limit that is unusable or above the deployment's ceiling."""


# name -> (accepted types, smallest allowed value)
_LIMITS: dict[str, tuple[type | tuple[type, ...], float]] = {
    "max_steps": (int, 1),
    "max_replans": (int, 0),
    "tool_timeout_s": ((int, float), 0.001),
    "run_timeout_s": ((int, float), 0.001),
}


@dataclass(frozen=True)
class Models:
    """The chat model behind each role."""

    planner: BaseChatModel
    executor: BaseChatModel
    synthesizer: BaseChatModel


ToolObserver = Callable[[str, bool, float], None]


@dataclass(frozen=True)
class AgentDeps:
    """What the nodes need that is not state: models, tools, tool resources, default limits, and
    the gate that decides whether a call requiring approval may run (closed unless configured)."""

    models: Models
    registry: Registry
    tool_resources: Any = None
    defaults: RunContext = RunContext()
    approvals: ApprovalGate = NoApprovalLedger()
    observe_tool: ToolObserver | None = None  # told (tool, ok, seconds) of every call that ran: metrics
    prices: Prices = dataclasses.field(default_factory=lambda: dict(PRICES))  # USD per million tokens, by model

    def context(self, runtime: Runtime[RunContext] | None) -> RunContext:
        """The run's context, or the defaults when the caller passed none (`langgraph dev`, tests)."""
        ctx = runtime.context if runtime is not None else None
        return ctx if isinstance(ctx, RunContext) else self.defaults
