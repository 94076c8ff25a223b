"""reflect: after each step, continue, re-plan (bounded) or finish; stop loops and runs that stall."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, Decision, Observation
from nodes.escalate import escalation_after_step

# This many failed, rejected or skipped steps in a row, with nothing achieved between, is no progress.
NO_PROGRESS_STREAK = 3


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    stop_reason: str | None = None
    feedback: str | None = None


def judge(state: AgentState, ctx: RunContext, now: float) -> Verdict:
    """The decision after a step, from the observations and the run's limits. Pure."""
    observations = state["observations"]
    # Steps run at once (gather) are judged together: a failure among them counts as the last step's.
    batch = observations[-(state.get("last_batch") or 1) :]
    last = next((o for o in reversed(batch) if not o["ok"]), batch[-1]) if batch else None
    remaining = state["cursor"] < len(state["plan"])
    elapsed = now - state["clock_started_at"]
    if state.get("blocked"):  # a guardrail or a budget ended the turn in the node before
        return Verdict("finish", state.get("stop_reason") or "stopped by a guardrail")
    if elapsed > ctx.run_timeout_s:
        return Verdict("finish", f"the run time limit of {ctx.run_timeout_s:g} s was reached")
    if last is not None and last["status"] == "skipped" and last["error"] and "identical call" in last["error"]:
        return Verdict("finish", f"the plan repeated an identical {last['tool']} call, so it was stopped")
    streak = 0
    for o in reversed(observations):
        if o["ok"]:
            break
        streak += 1
    if streak >= NO_PROGRESS_STREAK:
        return Verdict("finish", f"no progress: the last {streak} steps all failed")
    if last is not None and not last["ok"]:
        if state["replans"] >= ctx.max_replans:
            return Verdict(
                "finish", f"{last['tool']} did not succeed and the re-plan limit ({ctx.max_replans}) was reached"
            )
        return Verdict("replan", feedback=_why(last))
    if remaining and state["steps"] >= ctx.max_steps:
        return Verdict("finish", f"the step limit of {ctx.max_steps} was reached")
    return Verdict("continue" if remaining else "finish")


def _why(observation: Observation) -> str:
    if observation["status"] == "rejected":
        return (
            f"The reviewer rejected {observation['tool']} with feedback: "
            f"{observation.get('feedback') or 'none given'}. Adapt the plan; do not repeat that call."
        )
    return f"Step {observation['step'] + 1} ({observation['tool']}) failed: {observation['error']}. Adapt the plan."


def make_reflect(deps: AgentDeps) -> NodeFn:
    async def reflect(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Decide whether to continue, re-plan or finish, from what the last step observed."""
        verdict = judge(state, deps.context(runtime), time.time())
        update: dict[str, Any] = {"decision": verdict.decision, "stop_reason": verdict.stop_reason}
        if state.get("last_batch"):
            update["last_batch"] = None
        if verdict.decision == "replan":
            update |= {"replans": state["replans"] + 1, "plan_feedback": verdict.feedback}
        if verdict.decision == "finish" and (handoff := escalation_after_step(state, deps.escalation)):
            update["handoff"] = handoff  # a person takes over instead of synthesize (graph/routing.py)
        return update

    return reflect
