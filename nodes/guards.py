"""What the nodes ask the guardrails before acting, and what they do with a verdict: count it, audit
it, and end the turn gracefully (through synthesize) when it blocks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.runtime import ExecutionInfo, Runtime

from graph.context import AgentDeps, RunContext
from graph.state import AgentState, PendingCall
from guardrails import budget, tool_policy
from guardrails.audit_event import BUDGET_STOP, GUARDRAIL_BLOCK, SYSTEM_ACTOR, TOOL_CALL, AuditEvent
from guardrails.verdict import Verdict
from llm.usage import Usage, estimate_call
from tools.base import ToolResult
from tools.gate import call_digest

logger = logging.getLogger("handrail.guardrails")


async def admit_model_call(
    deps: AgentDeps, state: Mapping[str, Any], ctx: RunContext, model: object, prompt: Sequence[BaseMessage]
) -> Verdict:
    """Whether one more model call fits the run's caps (and the user's and the deployment's budgets)."""
    estimate = estimate_call(model, sum(len(str(m.content)) for m in prompt), deps.prices)
    spent = Usage(state.get("tokens", 0), state.get("cost_usd", 0.0))
    counted = deps.guards.run_spent() if deps.guards.run_spent is not None else None
    if counted is not None:  # the turn's counters or what the server counted, whichever is higher
        spent = Usage(max(spent.tokens, counted.tokens), max(spent.cost_usd, counted.cost_usd))
    verdict = budget.check(spent, estimate, max_tokens=ctx.max_tokens, max_cost_usd=ctx.max_cost_usd)
    if not verdict.blocked and deps.guards.spend is not None:
        verdict = await deps.guards.spend.refusal(ctx.user_id) or verdict
    return verdict


def stop(state: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The state update that ends the turn on a blocking verdict; synthesize says why."""
    return {
        "stop_reason": verdict.detail,
        "guardrail": verdict.guardrail,
        "blocked": True,
        "guardrail_events": [*state.get("guardrail_events", []), str(verdict.guardrail)],
    }


def fired(verdict: Verdict) -> list[str]:
    """The `layer.rule` names a verdict reports: its blocking rule, or the flags it raised."""
    if verdict.blocked:
        return [str(verdict.guardrail)]
    return [f"{verdict.layer}.{flag}" for flag in verdict.flags]


async def note(
    deps: AgentDeps,
    runtime: Runtime[RunContext] | None,
    verdict: Verdict,
    *,
    tool: str | None = None,
    args: dict[str, Any] | None = None,
) -> None:
    """Count a verdict that fired and put it in the audit log. Never raises: a failing audit write is
    logged, and the action it describes has already been refused or changed."""
    names = fired(verdict)
    if not names:
        return
    if deps.guards.on_event is not None:
        for name in names:
            deps.guards.on_event(name, verdict.blocked)
    logger.warning("guardrail.fired", extra={"guardrails": names, "tool": tool, "detail": verdict.detail})
    if deps.guards.audit is None:
        return
    info = runtime.execution_info if runtime is not None else None
    ctx = deps.context(runtime)
    event = AuditEvent(
        kind=BUDGET_STOP if verdict.layer == "budget" else GUARDRAIL_BLOCK,
        actor=SYSTEM_ACTOR,
        thread_id=info.thread_id if info is not None else None,
        run_id=info.run_id if info is not None else None,
        tool=tool,
        args=args,
        outcome="blocked" if verdict.blocked else "changed",
        detail={"guardrails": names, "detail": verdict.detail, "user_id": ctx.user_id},
    )
    try:
        await deps.guards.audit.record(event)
    except Exception:
        logger.exception("guardrail.audit_failed", extra={"guardrails": names})


async def tool_verdict(deps: AgentDeps, state: AgentState, ctx: RunContext, pending: PendingCall) -> Verdict:
    """The tool-policy verdict on a validated call: allowlist, kill switch, where the call came from."""
    spec = deps.registry.get(pending["tool"])
    assert spec is not None
    switches = deps.guards.switches
    intended = state.get("intended")
    if intended is None:  # a thread from before first plans were recorded: its current plan
        intended = [s["tool"] for s in state["plan"]]
    tainted = state.get("tainted", False)
    return tool_policy.check(
        spec.name,
        pending["args"],
        side_effects=spec.risk != "read",
        allowed=ctx.tools_enabled,
        switched_off=await switches.disabled(spec.name) if switches is not None else None,
        intended=intended,
        tainted=tainted,
        # Read only after a tainted tool output, the one case the policy looks at them: not on every call.
        user_texts=user_texts(state["messages"]) if tainted else (),
        retains=spec.retains,
    )


async def audit_call(
    deps: AgentDeps, ctx: RunContext, info: ExecutionInfo | None, pending: PendingCall, result: ToolResult
) -> None:
    """Record a call that ran. Raises when the record cannot be written: the run then fails (and its
    retry finds the call's effect through its idempotency key) rather than leave a call unrecorded."""
    if deps.guards.audit is None:
        return
    await deps.guards.audit.record(
        AuditEvent(
            kind=TOOL_CALL,
            actor=ctx.user_id,
            thread_id=info.thread_id if info is not None else None,
            run_id=info.run_id if info is not None else None,
            tool=pending["tool"],
            args=pending["args"],
            digest=call_digest(pending["tool"], pending["args"]),
            outcome="ok" if result.ok else "error",
            detail={"call_id": pending["call_id"], **({"error": result.error} if result.error else {})},
        )
    )


def user_texts(messages: Sequence[BaseMessage]) -> list[str]:
    """What the user wrote in this thread: addresses found there were supplied by the user."""
    return [m.text if hasattr(m, "text") else str(m.content) for m in messages if isinstance(m, HumanMessage)]
