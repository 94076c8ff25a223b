"""gather: after independent steps ran at the same time, record their observations in plan order."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState


def make_gather(deps: AgentDeps) -> NodeFn:
    async def gather(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """The turn's record as if the steps had run one by one; reflect then judges them together."""
        done = sorted(state.get("parallel") or [], key=lambda o: o["step"])
        flags = [flag for o in done for flag in o.get("flags") or []]
        update: dict[str, Any] = {
            "parallel": None,
            "observations": [*state["observations"], *done],
            "cursor": state["cursor"] + len(done),
            "steps": state["steps"] + len(done),
            "pending": None,
            "last_batch": len(done),
        }
        if flags:  # guardrails that fired on these calls, as execute records them for one
            update["guardrail_events"] = [*state.get("guardrail_events", []), *flags]
            update["tainted"] = state.get("tainted", False) or "tool_output.injection" in flags
        return update

    return gather
