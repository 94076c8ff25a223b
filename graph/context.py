"""Per-run context (immutable, never checkpointed) and the dependencies the graph is built with."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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


@dataclass(frozen=True)
class Models:
    """The chat model behind each role."""

    planner: BaseChatModel
    executor: BaseChatModel
    synthesizer: BaseChatModel


@dataclass(frozen=True)
class AgentDeps:
    """What the nodes need that is not state: models, tools, tool resources, default limits."""

    models: Models
    registry: Registry
    tool_resources: Any = None
    defaults: RunContext = RunContext()

    def context(self, runtime: Runtime[RunContext] | None) -> RunContext:
        """The run's context, or the defaults when the caller passed none (`langgraph dev`, tests)."""
        ctx = runtime.context if runtime is not None else None
        return ctx if isinstance(ctx, RunContext) else self.defaults
