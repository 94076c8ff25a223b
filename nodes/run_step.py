"""run_step: one of several independent plan steps running at the same time.

Routing sends each such step here as its own LangGraph task (`Send`), so each call is checkpointed on its
own: after a crash only the steps that had not finished run again. A task writes only its observation to
`parallel`; gather then records them all in plan order, as if they had run one by one."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from guardrails.verdict import Verdict
from nodes.execute import observation_of, planned_call, resolve_step, run_call
from tools.base import ToolResult, ToolSpec


def runs_in_parallel(spec: ToolSpec[Any] | None, args: Any) -> bool:
    """A step that may run alongside others: a known read-only tool that needs no reviewer and reads no
    earlier step's result (`{{step:N}}`), so neither its order nor its outcome depends on the others."""
    return spec is not None and spec.risk == "read" and not spec.requires_approval and "{{step:" not in str(args)


def make_run_step(deps: AgentDeps) -> NodeFn:
    async def run_step(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Run the step at `cursor` of this task's input and report its observation."""
        step = state["plan"][state["cursor"]]
        if not runs_in_parallel(deps.registry.get(step["tool"]), step["args"]):
            # Checked again where the call runs: routing chose from the plan, which clients can write.
            refused = ToolResult.failure(f"{step['tool']} may not run alongside other steps; it was not run")
            return {"parallel": [observation_of(planned_call(state), refused, "skipped")]}
        pending, _used, refusal = await resolve_step(deps, state, runtime)  # no model call: no references
        if isinstance(refusal, Verdict):  # a budget stop; gather cannot end the turn from here, reflect will
            return {"parallel": [observation_of(pending, ToolResult.failure(str(refusal.detail)), "skipped")]}
        if refusal is not None:
            return {"parallel": [refusal]}
        recorded = await run_call(deps, state, pending, runtime)
        return {"parallel": [recorded["observations"][-1]]}

    return run_step
