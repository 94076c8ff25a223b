"""gather: after independent steps ran at the same time, record their observations in plan order."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from nodes.execute import flagged


def make_gather(deps: AgentDeps) -> NodeFn:
    async def gather(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """The turn's record as if the steps had run one by one; reflect then judges them together."""
        done = sorted(state.get("parallel") or [], key=lambda o: o["step"])
        flags = [flag for o in done for flag in o.get("flags") or []]
        return {
            "parallel": None,
            "observations": [*state["observations"], *done],
            "cursor": state["cursor"] + len(done),
            "steps": state["steps"] + len(done),
            "pending": None,
            "last_batch": len(done),
            **flagged(state, flags),  # as execute records them for one call
        }

    return gather
