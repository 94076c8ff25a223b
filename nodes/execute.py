"""execute: turn the next plan step into a validated call and run it (after review, if required)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables.config import get_async_callback_manager_for_config
from langgraph.config import get_config
from langgraph.runtime import Runtime

import guardrails.tool_output as tool_output
from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, Observation, PendingCall, StepStatus
from guardrails.verdict import Verdict
from llm.protocol import embed, last_user_text
from llm.resilience import ModelsUnavailable
from llm.usage import Usage, usage_of
from nodes.common import add_usage, step_call_id
from nodes.guards import admit_model_call, audit_call, fired, note, stop, tool_verdict
from tools.base import ToolEnv, ToolResult, call_key
from tools.gate import GateCall
from tools.runner import run_tool

logger = logging.getLogger("handrail.nodes")

PROMPT = """You execute one step of a plan. Call the given tool exactly once, with the step's
arguments, replacing every {{step:N}} with the relevant content of observation N. Use only facts
from the observations."""


def make_execute(deps: AgentDeps) -> NodeFn:
    async def execute(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        pending = state.get("pending")
        if pending is None:
            pending, used, refusal = await resolve_step(deps, state, runtime)
            counters = add_usage(state, used)
            if isinstance(refusal, Verdict):  # a budget stop: the turn ends here, through synthesize
                return {**counters, **stop(state, refusal), "pending": None}
            if refusal is not None:
                return {**counters, **_record(state, refusal)}
            spec = deps.registry.get(pending["tool"])
            if spec is not None and spec.requires_approval:
                return {**counters, "pending": pending}  # route_after_execute sends it to approve
            return {**counters, **await run_call(deps, state, pending, runtime)}
        review = pending["review"]
        if review is not None and review["decision"] == "reject":
            return _record(
                state,
                observation_of(
                    pending, ToolResult.failure("rejected by reviewer"), "rejected", feedback=review["feedback"]
                ),
            )
        if review is not None:  # approved as planned, or edited (already re-validated by approve)
            pending = {**pending, "args": review["args"]}
        return await run_call(deps, state, pending, runtime)

    return execute


def planned_call(state: AgentState) -> PendingCall:
    """The step at the cursor as a call, as planned (arguments not yet resolved or validated)."""
    step = state["plan"][state["cursor"]]
    return PendingCall(
        call_id=step_call_id(state),
        step=state["cursor"],
        tool=step["tool"],
        args=step["args"],
        purpose=step["purpose"],
        review=None,
    )


async def resolve_step(
    deps: AgentDeps, state: AgentState, runtime: Runtime[RunContext]
) -> tuple[PendingCall, Usage, Observation | Verdict | None]:
    """The concrete call for the step at the cursor, or an observation saying why it cannot run, or
    the budget verdict that stops the turn before the executor model is asked."""
    step = state["plan"][state["cursor"]]
    pending = planned_call(state)
    spec, used = deps.registry.get(step["tool"]), Usage()
    if spec is None:
        return pending, used, observation_of(pending, ToolResult.failure(f"unknown tool {step['tool']}"), "failed")
    args = step["args"]
    if "{{step:" in str(args):
        data = {"step": dict(step), "observations": state["observations"]}
        model = deps.models.executor.bind_tools(
            [spec.openai_schema()], tool_choice=spec.name, check=lambda r: _no_call_of(spec.name, r)
        )
        prompt = [SystemMessage(PROMPT + "\n" + embed(data)), HumanMessage(last_user_text(state["messages"]))]
        admitted = await admit_model_call(deps, state, deps.context(runtime), model, prompt)
        if admitted.blocked:
            await note(deps, runtime, admitted, tool=spec.name)
            return pending, used, admitted
        try:
            reply = await model.ainvoke(prompt)
        except ModelsUnavailable as exc:  # the step fails like a tool would; reflect re-plans or stops
            return pending, used, observation_of(pending, ToolResult.failure(f"{exc}; the step was not run"), "failed")
        used = usage_of(reply, deps.prices)
        made = [c["args"] for c in reply.tool_calls if c["name"] == spec.name]
        if not made:
            return (
                pending,
                used,
                observation_of(pending, ToolResult.failure("the executor model made no call"), "failed"),
            )
        args = made[0]
    check = deps.registry.check(spec.name, args)
    if check.args is None:
        return pending, used, observation_of({**pending, "args": args}, ToolResult.failure(str(check.error)), "failed")
    pending = {**pending, "args": check.args.model_dump(mode="json")}
    earlier = _same_call(state["observations"], pending)
    if earlier is not None:
        error = f"identical call already made at step {earlier + 1}; reuse its result instead of repeating it"
        return pending, used, observation_of(pending, ToolResult.failure(error), "skipped")
    used_calls = sum(1 for o in state["observations"] if o["tool"] == spec.name and o["status"] != "skipped")
    if used_calls >= spec.max_calls_per_run:
        error = f"{spec.name} may be called at most {spec.max_calls_per_run} times per run"
        return pending, used, observation_of(pending, ToolResult.failure(error), "skipped")
    # Before a reviewer is asked: a call policy refuses is never put to a person.
    policy = await tool_verdict(deps, state, deps.context(runtime), pending)
    if policy.blocked:
        await note(deps, runtime, policy, tool=spec.name, args=pending["args"])
        return pending, used, _refused(pending, policy)
    return pending, used, None


async def run_call(
    deps: AgentDeps, state: AgentState, pending: PendingCall, runtime: Runtime[RunContext]
) -> dict[str, Any]:
    spec = deps.registry.get(pending["tool"])
    assert spec is not None
    ctx = deps.context(runtime)
    check = deps.registry.check(spec.name, pending["args"])
    if check.args is None:  # state is writable by clients: what it holds is validated again here
        return _record(state, observation_of(pending, ToolResult.failure(str(check.error)), "failed"))
    pending = {**pending, "args": check.args.model_dump(mode="json")}
    # Again where the call runs: a kill switch thrown while a reviewer was deciding still holds.
    policy = await tool_verdict(deps, state, ctx, pending)
    if policy.blocked:
        await note(deps, runtime, policy, tool=spec.name, args=pending["args"])
        return _record(state, _refused(pending, policy))
    info = runtime.execution_info if runtime is not None else None
    thread_id = info.thread_id if info is not None else None
    review = pending["review"]
    if spec.requires_approval:
        verdict = await deps.approvals.admit(
            GateCall(
                thread_id=thread_id,
                run_id=info.run_id if info is not None else None,
                call_id=pending["call_id"],
                tool=spec.name,
                args=pending["args"],
                reviewed=review["decision"] if review is not None else None,
            )
        )
        if not verdict.admitted:
            logger.warning("approval.gate_refused", extra={"tool": spec.name, "reason": verdict.reason})
            return _record(state, observation_of(pending, ToolResult.failure(str(verdict.reason)), "skipped"))
    env = ToolEnv(
        idempotency_key=f"{thread_id or 'local'}:{pending['call_id']}",
        user_id=ctx.user_id,
        thread_id=thread_id,
        resources=deps.tool_resources,
        store=runtime.store if runtime is not None else None,
    )
    # Progress for UIs that stream `custom`: which call starts, and how it ended.
    progress = {"call_id": pending["call_id"], "tool": spec.name, "step": pending["step"] + 1}
    runtime.stream_writer({"type": "tool_started", **progress})
    result = await _traced(
        spec.name,
        check.args.model_dump(mode="json"),
        run_tool(
            spec,
            check.args,
            env,
            timeout_s=ctx.tool_timeout_s,
            observe=deps.observe_tool,
            resilience=deps.tool_resilience,
        ),
    )
    runtime.stream_writer({"type": "tool_finished", **progress, "ok": result.ok, "error": result.error})
    await audit_call(deps, ctx, info, pending, result)
    # Tool output is data: bounded, and instruction-like text in it fenced, before any model reads it.
    screened = tool_output.check(result.data, max_chars=deps.guards.max_tool_output_chars)
    flags = fired(screened)
    if flags:
        await note(deps, runtime, screened, tool=spec.name)
        result = ToolResult(ok=result.ok, data=screened.value, error=result.error)
    observation = observation_of(
        pending, result, "done" if result.ok else "failed", feedback=review["feedback"] if review else None
    )
    return _record(state, {**observation, "flags": flags} if flags else observation)


async def _traced(name: str, args: dict[str, Any], call: Awaitable[ToolResult]) -> ToolResult:
    """The call as a tool run of the node's callbacks: a tracer (Langfuse) shows it as a child of the
    node, with its arguments, result or error, and latency. No callbacks: nothing but the call."""
    try:
        manager = get_async_callback_manager_for_config(get_config())
    except RuntimeError:  # outside a graph run
        return await call
    run = await manager.on_tool_start({"name": name}, json.dumps(args, default=str), inputs=args, name=name)
    result = await call
    if result.ok:
        await run.on_tool_end(result.data, name=name)
    else:
        await run.on_tool_error(ToolCallFailed(result.error or "failed"), name=name)
    return result


class ToolCallFailed(Exception):
    """What a tracer records for a call whose result was not ok (the run itself goes on)."""


def _no_call_of(tool: str, reply: AIMessage) -> str | None:
    """Why the executor's reply is malformed (no call of `tool`), or None."""
    return None if any(c["name"] == tool for c in reply.tool_calls) else f"the executor model made no call of {tool}"


def _same_call(observations: list[Observation], pending: PendingCall) -> int | None:
    key = call_key(pending["tool"], pending["args"])
    return next(
        (
            o["step"]
            for o in observations
            if o["status"] in ("done", "failed") and call_key(o["tool"], o["args"]) == key
        ),
        None,
    )


def observation_of(
    pending: PendingCall, result: ToolResult, status: StepStatus, feedback: str | None = None
) -> Observation:
    return Observation(
        step=pending["step"],
        call_id=pending["call_id"],
        tool=pending["tool"],
        args=pending["args"],
        status=status,
        ok=result.ok,
        data=result.data,
        error=result.error,  # type: ignore[typeddict-item]
        feedback=feedback,
    )


def _refused(pending: PendingCall, policy: Verdict) -> Observation:
    return {**observation_of(pending, ToolResult.failure(str(policy.detail)), "skipped"), "flags": fired(policy)}


def _record(state: AgentState, observation: Observation) -> dict[str, Any]:
    update: dict[str, Any] = {
        "observations": [*state["observations"], observation],
        "cursor": state["cursor"] + 1,
        "steps": state["steps"] + 1,
        "pending": None,
    }
    return {**update, **flagged(state, observation.get("flags") or [])}


def flagged(state: AgentState, flags: list[str]) -> dict[str, Any]:
    """The state update for guardrails that fired on calls, blocking or not: recorded, and a fenced tool
    output marks the turn tainted. Nothing when none fired."""
    if not flags:
        return {}
    return {
        "guardrail_events": [*state.get("guardrail_events", []), *flags],
        "tainted": state.get("tainted", False) or "tool_output.injection" in flags,
    }
