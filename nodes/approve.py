"""approve: pause before a sensitive call until a person approves, edits or rejects it.

This node only asks. It re-runs from its start on every resume, so it has no side effects; the
approved call runs in `execute`, keyed by its call id, and only if the approval gate finds the
recorded decision for it (the answer written into graph state here is not proof of a decision).
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from nodes.review import InvalidReview, approval_request, parse_review


def make_approve(deps: AgentDeps) -> NodeFn:
    async def approve(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Ask until the answer is valid; an invalid answer re-asks, so the thread stays paused."""
        pending = state["pending"]
        assert pending is not None, "route_after_execute only sends pending calls here"
        info = runtime.execution_info if runtime is not None else None
        asked_in = f"{info.thread_id}:{info.task_id}" if info is not None else ""
        request = approval_request(pending, deps.registry, asked_in=asked_in)
        payload = request
        while True:
            answer = interrupt(payload)
            try:
                # The service validated the length when it recorded the decision; the node takes it as is.
                review = parse_review(answer, pending, deps.registry, max_feedback_chars=None)
            except InvalidReview as exc:
                payload = {**request, "error": f"previous answer refused: {exc}"}
                continue
            # Waiting for a person is not agent time: the run clock restarts after the answer.
            return {"pending": {**pending, "review": review}, "clock_started_at": time.time()}

    return approve
