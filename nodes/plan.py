"""plan: ask the planner for a structured plan and validate it against the tool registry."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field, ValidationError

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, PlanStep
from llm.protocol import embed
from llm.usage import Usage, usage_of
from nodes.common import add_usage
from tools.registry import Registry

PROMPT = """You plan the work of an agent that acts only through tools.
Call the Plan tool with the shortest list of steps that fulfils the user's latest request.
Each step names one tool from the catalogue below, its arguments (valid for that tool's schema) and
its purpose. When an argument needs an earlier step's result, write {{step:N}} (N counts from 1).
Never invent tools. If observations or feedback are given, plan only the remaining work and do not
repeat a call that failed or was rejected. If no tool can help, return an empty list of steps."""


class PlannedStep(BaseModel):
    tool: str = Field(description="Name of a tool from the catalogue.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments for the tool.")
    purpose: str = Field("", description="Why this step is needed, in a few words.")


class Plan(BaseModel):
    """The ordered tool calls that fulfil the request."""

    steps: list[PlannedStep] = Field(default_factory=list, max_length=20)


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
    planner = deps.models.planner.bind_tools([Plan], tool_choice="Plan")

    async def plan(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Write the plan; a refused plan is fed back once for a re-plan and never executed."""
        replanning = state.get("decision") == "replan"
        turn = _carry_over(state) if replanning else _fresh_turn()
        feedback = state.get("plan_feedback") if replanning else None
        used = Usage()
        steps: list[PlanStep] = []
        error: str | None = None
        for _attempt in range(2):
            data = {"tools": deps.registry.catalog(), "observations": turn["observations"], "feedback": feedback}
            reply = await planner.ainvoke([SystemMessage(PROMPT + "\n" + embed(data)), *state["messages"]])
            used += usage_of(reply)
            steps, error = check_plan(reply, deps.registry)
            if error is None:
                break
            feedback = f"Your previous plan was refused: {error}. Use only catalogue tools with valid arguments."
        return {
            **turn,
            "plan": steps,
            "cursor": 0,
            "pending": None,
            "decision": None,
            "plan_feedback": None,
            "stop_reason": f"no valid plan could be made ({error})" if error else None,
            **add_usage(turn, used),
        }

    return plan


def _fresh_turn() -> dict[str, Any]:
    """A new user message starts a new turn: counters and observations belong to one turn."""
    return {
        "observations": [],
        "steps": 0,
        "replans": 0,
        "tokens": 0,
        "cost_usd": 0.0,
        "final_answer": None,
        "clock_started_at": time.time(),
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
    }
