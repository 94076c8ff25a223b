"""Where the graph goes after each node. Named functions, so the graph drawing reads well."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Literal

from langgraph.runtime import Runtime, get_runtime
from langgraph.types import Send

from graph.context import AgentDeps, RunContext
from graph.state import AgentState
from nodes.run_step import runs_in_parallel
from nodes.window import turns
from tools.base import call_key


def route_after_plan(state: AgentState) -> Literal["execute", "synthesize", "handoff"]:
    if handing_off(state):
        return "handoff"
    return "execute" if state["plan"] and not state.get("stop_reason") else "synthesize"


def route_after_execute(state: AgentState) -> Literal["approve", "reflect"]:
    pending = state.get("pending")
    return "approve" if pending is not None and pending["review"] is None else "reflect"


def route_after_reflect(state: AgentState) -> Literal["execute", "plan", "synthesize", "handoff"]:
    if handing_off(state):
        return "handoff"
    decision = state.get("decision")
    if decision == "continue":
        return "execute"
    return "plan" if decision == "replan" else "synthesize"


def independent_steps(deps: AgentDeps, state: AgentState, ctx: RunContext) -> list[int]:
    """The plan steps from the cursor on that can run at the same time (two or more, else none): each
    read-only, needing no reviewer and no earlier result, no call made before or twice, within the
    run's parallel bound, the steps it has left and each tool's calls per run (checked one by one by
    execute, which would otherwise see none of the calls running beside it)."""
    room = min(ctx.max_parallel_steps, ctx.max_steps - state["steps"])
    batch: list[int] = []
    # A call made before stops the batch: execute then finds it identical and ends the turn, as always.
    seen = {call_key(o["tool"], o["args"]) for o in state["observations"] if o["status"] in ("done", "failed")}
    calls = Counter(o["tool"] for o in state["observations"] if o["status"] != "skipped")
    for index in range(state["cursor"], len(state["plan"])):
        step = state["plan"][index]
        spec, key = deps.registry.get(step["tool"]), call_key(step["tool"], step["args"])
        if len(batch) >= room or key in seen or spec is None or not runs_in_parallel(spec, step["args"]):
            break
        if calls[spec.name] >= spec.max_calls_per_run:
            break  # a call over the tool's per-run limit is refused in turn, as ever, not let through at once
        seen.add(key)
        calls[spec.name] += 1
        batch.append(index)
    return batch if len(batch) > 1 else []


Route = Callable[[AgentState], str | list[Send]]


def fanning_out(deps: AgentDeps, route: Callable[[AgentState], str]) -> Route:
    """`route`, except that where it would execute the next step, independent steps run at once: one
    `run_step` task each (its input this state at that step, with only the current turn's messages)."""

    def route_with_fan_out(state: AgentState) -> str | list[Send]:
        target = route(state)
        if target != "execute" or state.get("pending") is not None:
            return target
        # Read, not injected: a state update (`as_node`) also asks where the graph goes next, with no
        # runtime (an injected one would be required); nothing runs then, and execute is the answer.
        try:
            runtime: Runtime[RunContext] | None = get_runtime()
        except RuntimeError:
            runtime = None
        if runtime is None:
            return target
        batch = independent_steps(deps, state, deps.context(runtime))
        if not batch:
            return target
        turn = turns(state["messages"])[-1]  # the current turn's messages: what a step's checks read
        base = {k: v for k, v in state.items() if k not in ("messages", "parallel", "summary")}
        return [Send("run_step", {**base, "messages": turn, "cursor": index}) for index in batch]

    route_with_fan_out.__name__ = route.__name__
    return route_with_fan_out


def handing_off(state: AgentState) -> bool:
    """A signal asked for a person (guardrails/escalation.py), and the packet is not written yet."""
    handoff = state.get("handoff")
    return handoff is not None and handoff["status"] == "requested"


def route_at_start(state: AgentState) -> Literal["plan", "human"]:
    """A message sent while a person has the thread is for them: it waits with the handoff, no agent acts."""
    handoff = state.get("handoff")
    return "human" if handoff is not None and handoff["status"] == "open" else "plan"


def route_after_human(state: AgentState) -> Literal["human", "__end__"]:
    """After a person's reply the thread waits for them again; resolved or returned, the turn ends."""
    handoff = state.get("handoff")
    return "human" if handoff is not None and handoff["status"] == "open" else "__end__"
