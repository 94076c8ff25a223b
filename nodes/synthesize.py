"""synthesize: write the final answer from the observations only, saying plainly what was not done."""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from llm.offline_rules import write_answer
from llm.protocol import embed, last_user_text
from llm.usage import usage_of
from nodes.common import add_usage

logger = logging.getLogger("handrail.nodes")

PROMPT = """Answer the user's request using only the observations below: never add facts they do
not contain. If a step failed, was rejected by a reviewer, or the run stopped early (stop_reason),
say so plainly and say what was not done and why. Be concise."""


def make_synthesize(deps: AgentDeps) -> NodeFn:
    async def synthesize(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        data = {"observations": state["observations"], "stop_reason": state.get("stop_reason")}
        prompt = [SystemMessage(PROMPT + "\n" + embed(data)), HumanMessage(last_user_text(state["messages"]))]
        try:
            reply = await deps.models.synthesizer.ainvoke(prompt)
            answer, used = str(reply.text), usage_of(reply, deps.prices)
        except Exception:
            # The answer must never be a bare error: fall back to the grounded, rule-written answer.
            logger.exception("synthesize.model_failed")
            note = "(The answer model failed; this summary was written by rules.)"
            answer, used = f"{write_answer(data)}\n\n{note}", None
        update: dict[str, Any] = {"final_answer": answer, "messages": [AIMessage(content=answer)]}
        if used is not None:
            update |= add_usage(state, used)
        return update

    return synthesize
