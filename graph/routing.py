"""Where the graph goes after each node. Named functions, so the graph drawing reads well."""

from __future__ import annotations

from typing import Literal

from graph.state import AgentState


def route_after_plan(state: AgentState) -> Literal["execute", "synthesize"]:
    return "execute" if state["plan"] and not state.get("stop_reason") else "synthesize"


def route_after_execute(state: AgentState) -> Literal["approve", "reflect"]:
    pending = state.get("pending")
    return "approve" if pending is not None and pending["review"] is None else "reflect"


def route_after_reflect(state: AgentState) -> Literal["execute", "plan", "synthesize"]:
    decision = state.get("decision")
    if decision == "continue":
        return "execute"
    return "plan" if decision == "replan" else "synthesize"
