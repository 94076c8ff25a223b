"""plan: ask the planner for a structured plan and validate it against the tool registry."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, ValidationError

import guardrails.input as input_guard
from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, PlanStep
from guardrails import escalation
from llm.protocol import embed, last_user_text
from llm.resilience import ModelsUnavailable
from llm.tokens import counter_for
from llm.usage import Usage, usage_of
from nodes.common import add_usage
from nodes.escalate import escalation_after_step, escalation_at_turn_start
from nodes.guards import admit_model_call, note, stop
from nodes.window import window
from tools.memory import recall
from tools.registry import Registry

PROMPT = """You plan the work of an agent that acts only through tools.
Call the Plan tool with the shortest list of steps that fulfils the user's latest request.
Each step names one tool from the catalogue below, its arguments (valid for that tool's schema) and
its purpose. When an argument needs an earlier step's result, write {{step:N}} (N counts from 1).
Never invent tools. If observations or feedback are given, plan only the remaining work and do not
repeat a call that failed or was rejected. If no tool can help, return an empty list of steps.
Earlier turns of a long conversation are given as summary_of_earlier_turns. Facts and preferences the user
asked you to remember are given as memories: follow them where they apply (e.g. a remembered recipient)."""


class PlannedStep(BaseModel):
    tool: str = Field(description="Name of a tool from the catalogue.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments for the tool.")
    purpose: str = Field("", description="Why this step is needed, in a few words.")


class Plan(BaseModel):
    """The ordered tool calls that fulfil the request."""

    steps: list[PlannedStep] = Field(default_factory=list, max_length=20)
    confidence: float | None = Field(
        None, ge=0, le=1, description="How sure you are, 0 to 1, that these steps do what the user wants."
    )


def malformed_plan(message: AIMessage) -> str | None:
    """Why a reply is no Plan call at all (the model layer retries it, then tries the fallback), or None."""
    call = next((c for c in message.tool_calls if c["name"] == "Plan"), None)
    if call is None:
        return "the planner did not call the Plan tool"
    try:
        Plan.model_validate(call["args"])
    except ValidationError as exc:
        return f"the plan is malformed: {exc.errors()[0]['msg']}"
    return None


def check_plan(message: AIMessage, registry: Registry) -> tuple[list[PlanStep], str | None]:
    """The validated steps, or the reasons the plan is refused (unknown tools, bad arguments)."""
    call = next((c for c in message.tool_calls if c["name"] == "Plan"), None)
    if call is None:
        return [], "the planner did not call the Plan tool"
    try:
        plan = Plan.model_validate(call["args"])
    except ValidationError as exc:
        return [], f"the plan is malformed: {exc.errors()[0]['msg']}"
    problems = []
    for i, step in enumerate(plan.steps, start=1):
        check = registry.check(step.tool, step.args)
        # A reference is filled in at execution time; validate what is knowable now.
        if check.error and not (check.spec and "{{step:" in str(step.args)):
            problems.append(f"step {i}: {check.error}")
    if problems:
        return [], "; ".join(problems)
    return [PlanStep(tool=s.tool, args=s.args, purpose=s.purpose) for s in plan.steps], None


def make_plan(deps: AgentDeps) -> NodeFn:
    planner = deps.models.planner.bind_tools([Plan], tool_choice="Plan", check=malformed_plan)
    count = counter_for(deps.models.planner, deps.context_tokenizer)

    async def plan(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Write the plan; a refused plan is fed back once for a re-plan and never executed."""
        ctx = deps.context(runtime)
        replanning = state.get("decision") == "replan"
        turn = _carry_over(state) if replanning else _fresh_turn()
        feedback = state.get("plan_feedback") if replanning else None
        # The user's words (or, on a re-plan, a reviewer's feedback) are read before any model sees them.
        said = feedback if replanning else last_user_text(state["messages"])
        screened = input_guard.check(said or "", max_chars=deps.guards.max_input_chars)
        if screened.blocked:
            await note(deps, runtime, screened)
            return {**turn, **_no_plan(), **stop(turn, screened)}  # type: ignore[arg-type]
        if not replanning:
            asked, rated = await escalation_at_turn_start(deps, {**state, **turn}, ctx, said or "")
            turn |= add_usage(turn, rated)
            if asked is not None:
                return {**turn, **_no_plan(), "handoff": asked.as_state()}  # a person, before any planning
        catalog = _allowed(deps.registry.catalog(), ctx)
        # A long thread costs what a short one does: the planner sees the latest turns and a summary.
        summary = state.get("summary")
        conversation = window(
            state["messages"], summary, max_turns=ctx.context_max_turns, max_tokens=ctx.context_max_tokens, count=count
        )
        # A few of the user's long-term memories (tools.memory): the authenticated user's, never the state's.
        # Read once per plan: a re-asked plan (refused once) reads the same user's same memories.
        memories = await recall(runtime.store, ctx.user_id, last_user_text(state["messages"]))
        used = Usage()
        steps: list[PlanStep] = []
        error: str | None = None
        for _attempt in range(2):
            data = {
                "tools": catalog,
                "observations": turn["observations"],
                "feedback": feedback,
                "memories": memories,
            }
            if summary:
                data["summary_of_earlier_turns"] = summary
            prompt = [SystemMessage(PROMPT + "\n" + embed(data)), *conversation]
            admitted = await admit_model_call(deps, {**state, **add_usage(turn, used)}, ctx, planner, prompt)
            if admitted.blocked:
                await note(deps, runtime, admitted)
                return {**turn, **_no_plan(), **add_usage(turn, used), **stop(turn, admitted)}  # type: ignore[arg-type]
            try:
                reply = await planner.ainvoke(prompt)
            except ModelsUnavailable as exc:  # every planner model failed: the turn ends, saying so
                left = "the remaining steps were not done" if replanning else "nothing was done"
                return {**turn, **_no_plan(), **add_usage(turn, used), "stop_reason": f"{exc}; {left}"}
            used += usage_of(reply, deps.prices)
            steps, error = check_plan(reply, deps.registry)
            if error is None:
                break
            feedback = f"Your previous plan was refused: {error}. Use only catalogue tools with valid arguments."
        if not replanning:
            turn["intended"] = sorted({s["tool"] for s in steps if _side_effects(deps, s["tool"])})
        confidence = _confidence(reply) if error is None else None
        if error is None and (risky := escalation.after_plan([s["tool"] for s in steps], confidence, deps.escalation)):
            turn["handoff"] = risky.as_state()  # the plan is kept for the person's packet, and not executed
        elif replanning and not steps and (after := escalation_after_step({**state, **turn}, deps.escalation)):
            turn["handoff"] = after  # nothing left to try after a failure or a refusal: a person takes over
        return {
            **turn,
            **_no_plan(),
            "plan": steps,
            "stop_reason": f"no valid plan could be made ({error})" if error else None,
            "confidence": confidence,
            **add_usage(turn, used),
        }

    return plan


def _confidence(reply: AIMessage) -> float | None:
    """The confidence the planner reported with its plan, if its model reports one."""
    call = next((c for c in reply.tool_calls if c["name"] == "Plan"), None)
    value = call["args"].get("confidence") if call is not None else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _no_plan() -> dict[str, Any]:
    return {"plan": [], "cursor": 0, "pending": None, "decision": None, "plan_feedback": None}


def _allowed(catalog: list[dict[str, Any]], ctx: RunContext) -> list[dict[str, Any]]:
    """The catalogue the planner may choose from: a tool the run may not call is not offered."""
    if ctx.tools_enabled is None:
        return catalog
    return [t for t in catalog if t["name"] in ctx.tools_enabled]


def _side_effects(deps: AgentDeps, tool: str) -> bool:
    spec = deps.registry.get(tool)
    return spec is not None and spec.risk != "read"


def _fresh_turn() -> dict[str, Any]:
    """A new user message starts a new turn: counters, observations and guardrail marks belong to one turn."""
    return {
        "observations": [],
        "steps": 0,
        "replans": 0,
        "tokens": 0,
        "cost_usd": 0.0,
        "final_answer": None,
        "clock_started_at": time.time(),
        "guardrail": None,
        "blocked": False,
        "guardrail_events": [],
        "intended": [],
        "tainted": False,
        "handoff": None,
    }


def _carry_over(state: AgentState) -> dict[str, Any]:
    return {
        "observations": state["observations"],
        "steps": state["steps"],
        "replans": state["replans"],
        "tokens": state["tokens"],
        "cost_usd": state["cost_usd"],
        "final_answer": None,
        "clock_started_at": state["clock_started_at"],
        "guardrail": None,
        "blocked": False,
        "guardrail_events": state.get("guardrail_events", []),
        "intended": state.get("intended", []),
        "tainted": state.get("tainted", False),
    }
