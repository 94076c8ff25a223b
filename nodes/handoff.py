"""handoff: hand the conversation to a person, with a context packet for them and an honest word to the user.

Reached when a signal fired (guardrails/escalation.py: decided in plan, or in reflect when a turn ends); the
thread then waits in `human` (nodes/human.py), which only asks. Nothing here has side effects: the service
records the handoff and notifies people when the run pauses.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState, Handoff
from guardrails import escalation
from llm.usage import Usage, usage_of
from nodes.common import turn_id
from nodes.guards import admit_model_call
from nodes.packet import context_packet

logger = logging.getLogger("handrail.nodes")


def handoff_id(thread_id: str, turn: str, signal: str) -> str:
    """One id per thread, turn and signal: a replay keeps it, a copy or fork of the thread gets its own."""
    return "hof_" + hashlib.sha256(f"{thread_id}|{turn}|{signal}".encode()).hexdigest()[:24]


class Sentiment(BaseModel):
    """How the user's message feels."""

    score: float = Field(ge=-1, le=1, description="-1: very negative (angry, upset); 0: neutral; 1: very positive.")


INLINE_CHARS = 300  # a message this short is read on the event loop (well under a millisecond)
SENTIMENT_PROMPT = (
    "Rate the sentiment of the user's message: how upset or pleased they are, not what they ask for. "
    "Call the Sentiment tool once."
)


async def escalation_at_turn_start(
    deps: AgentDeps, state: Mapping[str, Any], ctx: RunContext, text: str
) -> tuple[escalation.Escalation | None, Usage]:
    """The signals in the user's message (plan, before planning), with what a sentiment model call cost. With
    HANDOFF_SENTIMENT_MODEL the model scores the message; when it fails, or the budget is spent, VADER does."""
    model, used, score = deps.models.sentiment, Usage(), None
    if model is not None and "negative_sentiment" in deps.escalation.signals and text.strip():
        rater = model.bind_tools([Sentiment], tool_choice="Sentiment", check=_no_score)
        prompt = [SystemMessage(SENTIMENT_PROMPT), HumanMessage(text)]
        admitted = await admit_model_call(deps, state, ctx, rater, prompt)
        if not admitted.blocked:
            try:
                reply = await rater.ainvoke(prompt)
                used = usage_of(reply, deps.prices)
                score = Sentiment.model_validate(reply.tool_calls[0]["args"]).score
            except Exception as exc:  # a signal, not the turn: VADER scores it instead
                logger.warning("handoff.sentiment_model_failed", extra={"reason": str(exc)[:200]})
    if len(text) <= INLINE_CHARS:
        return escalation.at_turn_start(text, deps.escalation, score=score), used
    # Pattern and lexicon work on a long message runs off the event loop, as the offline model's does.
    return await asyncio.to_thread(escalation.at_turn_start, text, deps.escalation, score=score), used


def _no_score(reply: AIMessage) -> str | None:
    return None if any(c["name"] == "Sentiment" for c in reply.tool_calls) else "no Sentiment call"


def escalation_after_step(state: Mapping[str, Any], policy: escalation.Policy) -> dict[str, Any] | None:
    """The `handoff` state update when a turn that is finishing should go to a person (reflect), else None."""
    found = escalation.after_step(
        state.get("observations") or [],
        guardrail_events=state.get("guardrail_events") or [],
        blocked=bool(state.get("blocked")),
        guardrail=state.get("guardrail"),
        policy=policy,
    )
    return found.as_state() if found is not None else None


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
