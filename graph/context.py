"""Per-run context (immutable, never checkpointed) and the dependencies the graph is built with."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from guardrails.escalation import Policy as EscalationPolicy
from llm.resilience import ModelChain
from llm.tokens import Tokenizer
from llm.usage import PRICES, Prices, Usage
from tools.gate import ApprovalGate, NoApprovalLedger
from tools.handoff_gate import HandoffLedger, NoHandoffLedger

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.runtime import Runtime

    from graph.state import AgentState
    from guardrails.audit_event import AuditEvent
    from guardrails.verdict import Verdict
    from tools.registry import Registry
    from tools.runner import ToolResilience


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
    max_tokens: int = 200_000
    max_cost_usd: float = 1.0
    tools_enabled: frozenset[str] | None = None
    """The tools this run may call (None: every registered tool)."""
    max_parallel_steps: int = 4
    """Independent read-only plan steps run at the same time, at most (1: one at a time)."""
    context_max_turns: int = 8
    """Turns of the conversation the models are sent verbatim; older ones reach them as a summary."""
    context_max_tokens: int = 4_000
    """Tokens of conversation (summary and turns) the models are sent at most; the latest request always."""
    response_format: dict[str, Any] | None = None
    """OpenAI's shapes (`{"type": "json_object"}`, `{"type": "json_schema", ...}`): the answer is checked."""

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
            setting = _SETTINGS.get(name, name.upper())
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
        if requested.get("tools_enabled") is not None:
            changes["tools_enabled"] = self._allowlist(requested["tools_enabled"])
        if requested.get("response_format") is not None:
            changes["response_format"] = _response_format(requested["response_format"])
        return dataclasses.replace(self, **changes)

    def _allowlist(self, requested: Any) -> frozenset[str]:
        if not isinstance(requested, list | tuple) or not all(isinstance(t, str) for t in requested):
            raise LimitError(f"context.tools_enabled must be a list of tool names, got {requested!r}")
        wider = sorted(set(requested) - self.tools_enabled) if self.tools_enabled is not None else []
        if wider:
            raise LimitError(
                f"context.tools_enabled names {', '.join(wider)}, which this deployment does not enable "
                "(TOOLS_ENABLED); a run or an assistant may only narrow the allowlist"
            )
        return frozenset(requested)


def _response_format(value: Any) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, dict) else None
    schema = value.get("json_schema") if isinstance(value, dict) else None
    if kind == "json_object" or (kind == "json_schema" and isinstance(schema, dict)):
        return dict(value)
    raise LimitError(
        'context.response_format must be {"type": "json_object"} or {"type": "json_schema", "json_schema": '
        f"{{...}}}}, got {value!r}"
    )


class LimitError(ValueError):
    """A requested run limit that is unusable or above the deployment's ceiling."""


_SETTINGS = {"max_tokens": "RUN_MAX_TOKENS", "max_cost_usd": "RUN_MAX_COST_USD"}  # where not NAME.upper()
# name -> (accepted types, smallest allowed value)
_LIMITS: dict[str, tuple[type | tuple[type, ...], float]] = {
    "max_steps": (int, 1),
    "max_replans": (int, 0),
    "tool_timeout_s": ((int, float), 0.001),
    "run_timeout_s": ((int, float), 0.001),
    "max_tokens": (int, 1),
    "max_cost_usd": ((int, float), 0),
    "max_parallel_steps": (int, 1),
    "context_max_turns": (int, 1),
    "context_max_tokens": (int, 200),
}


@dataclass(frozen=True)
class Models:
    """The models behind each role, as chains (primary, fallbacks; retries, breakers) the nodes call
    through. A bare chat model given here becomes a chain of one, with no retries, fallback or breaker."""

    planner: ModelChain
    executor: ModelChain
    synthesizer: ModelChain
    sentiment: ModelChain | None = None
    """Scores a user's message for handoff's negative_sentiment (HANDOFF_SENTIMENT_MODEL); None: VADER, offline."""

    def __post_init__(self) -> None:
        for role in ("planner", "executor", "synthesizer"):
            model: ModelChain | BaseChatModel = getattr(self, role)
            if not isinstance(model, ModelChain):
                object.__setattr__(self, role, ModelChain.of(role, model))


ToolObserver = Callable[[str, bool, float], None]


class ToolSwitches(Protocol):
    """The operators' kill switches: the reason a tool is off, or None when it may run."""

    async def disabled(self, tool: str) -> str | None: ...


class AuditSink(Protocol):
    """Where tool calls and guardrail events are recorded, append-only (handrail.audit in the service)."""

    async def record(self, event: AuditEvent) -> None: ...


class SpendGate(Protocol):
    """Budgets wider than one run (a user's day, the deployment's hour): why no more may be spent, or None."""

    async def refusal(self, user_id: str) -> Verdict | None: ...


@dataclass(frozen=True)
class Guards:
    """The guardrails' settings and the records they consult. The defaults guard in-process use
    (tests, `langgraph dev`) with no service behind it: no kill switches, audit or spend ledger."""

    max_input_chars: int = 32_000
    max_tool_output_chars: int = 20_000
    switches: ToolSwitches | None = None
    audit: AuditSink | None = None
    spend: SpendGate | None = None
    run_spent: Callable[[], Usage | None] | None = None
    """What this run's model calls have cost so far, as the server counted them. The turn's counters
    live in graph state, which clients can write; this cannot be."""
    on_event: Callable[[str, bool], None] | None = None
    """Told the `layer.rule` of every guardrail that fired, and whether it blocked: metrics."""


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
    guards: Guards = Guards()
    tool_resilience: ToolResilience | None = None
    """Cache, retries and breakers around tool calls (tools.runner); None: each call runs once, as asked."""
    state_max_messages: int = 0
    """Messages a thread's state keeps at most once older ones are summarized (0: all; nodes/window.py)."""
    context_tokenizer: Tokenizer = "estimate"
    """How the context window counts tokens (llm/tokens.py)."""
    escalation: EscalationPolicy = EscalationPolicy(signals={})
    """When a conversation goes to a person (guardrails/escalation.py): no signal unless configured; the
    service and `langgraph dev` take HANDOFF_SIGNALS from settings."""
    handoffs: HandoffLedger = NoHandoffLedger()
    """Confirms a person's answers to a handoff (closed unless configured, like `approvals`)."""

    def context(self, runtime: Runtime[RunContext] | None) -> RunContext:
        """The run's context, or the defaults when the caller passed none (`langgraph dev`, tests)."""
        ctx = runtime.context if runtime is not None else None
        return ctx if isinstance(ctx, RunContext) else self.defaults
