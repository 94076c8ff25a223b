"""What plan and reflect ask before going on: whether the turn goes to a person (guardrails/escalation.py), as
the `handoff` state update that routing then follows (graph/routing.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from graph.context import AgentDeps, RunContext
from guardrails import escalation
from llm.usage import Usage, usage_of
from nodes.guards import admit_model_call

logger = logging.getLogger("handrail.nodes")


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
