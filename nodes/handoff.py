"""handoff: hand the conversation to a person, with a context packet for them and an honest word to the user.

Reached when a signal fired (nodes/escalate.py: asked in plan, or in reflect when a turn ends); the
thread then waits in `human` (nodes/human.py), which only asks. Nothing here has side effects: the service
records the handoff and notifies people when the run pauses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, Handoff
from nodes.common import turn_id
from nodes.packet import context_packet


def handoff_id(thread_id: str, turn: str, signal: str) -> str:
    """One id per thread, turn and signal: a replay keeps it, a copy or fork of the thread gets its own."""
    return "hof_" + hashlib.sha256(f"{thread_id}|{turn}|{signal}".encode()).hexdigest()[:24]


_WHY = {
    "asked_for_human": "you asked to speak with a person",
    "negative_sentiment": "I can tell this has been frustrating, and a person will handle it better than I can",
    "low_confidence": "I'm not sure I understood what you need",
    "high_stakes": "what you asked for needs a person to decide",
    "consecutive_failures": "I tried several times and could not get it done",
    "guardrail": "part of this request is something I may not do on my own",
}


def user_message(handoff: Mapping[str, Any], team: str) -> str:
    """What the user is told: who picks it up, what they will already know, where the answer appears."""
    why = _WHY.get(handoff["signal"], "this needs a person")
    return (
        f"I'm handing this conversation to {team}, because {why}. They will see our whole conversation "
        "and a summary of what you asked for, what I tried and what each step returned, and what is still "
        "open, so you won't need to repeat anything. Their reply will appear here in this conversation."
    )


def make_handoff(deps: AgentDeps) -> NodeFn:
    async def handoff(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Write the context packet and tell the user; `human` then waits for the person."""
        asked = state.get("handoff")
        assert asked is not None, "routing only sends requested handoffs here"
        info = runtime.execution_info if runtime is not None else None
        thread = info.thread_id if info is not None and info.thread_id else "local"
        opened = Handoff(
            signal=asked["signal"],
            reason=asked["reason"],
            priority=asked["priority"],
            status="open",
            handoff_id=handoff_id(thread, turn_id(state["messages"]), asked["signal"]),
            thread_id=thread,
            packet=context_packet(state, asked["signal"], asked["reason"]),
        )
        told = user_message(opened, deps.escalation.team)
        return {
            "handoff": opened,
            "messages": [AIMessage(content=told, id=f"{opened['handoff_id']}-told")],
            "final_answer": told,
            "stop_reason": f"handed off to a person: {asked['reason']}",
            "decision": None,
        }

    return handoff
