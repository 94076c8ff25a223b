"""Handoff in the graph itself, in-process: a provider model scoring sentiment (HANDOFF_SENTIMENT_MODEL) and the
VADER fallback when it fails; the in-process ledger answering for the person."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graph.builder import build_graph
from graph.context import Models
from guardrails.escalation import Policy
from llm.offline import OfflineChatModel
from llm.scripted import ScriptedChatModel, tool_call_message
from tests.support.agents import make_deps, user
from tools.handoff_gate import InProcessHandoffs

CALM_BUT_UPSET = "Fine. Whatever. Just tell me the refund window."  # VADER reads this as neutral


def graph_with(sentiment: ScriptedChatModel | None) -> Any:
    offline = OfflineChatModel()
    deps = dataclasses.replace(
        make_deps(None),
        models=Models(planner=offline, executor=offline, synthesizer=offline, sentiment=sentiment),
        escalation=Policy(),
        handoffs=InProcessHandoffs(),
    )
    return build_graph(deps, checkpointer=InMemorySaver())


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


async def test_a_sentiment_model_that_reads_the_message_as_very_upset_hands_it_to_a_person():
    model = ScriptedChatModel(script=[tool_call_message("Sentiment", {"score": -0.9})])
    result = await graph_with(model).ainvoke(user(CALM_BUT_UPSET), thread())

    assert result["handoff"]["signal"] == "negative_sentiment"
    assert "sentiment -0.90, by the model" in result["handoff"]["reason"]
    assert result["observations"] == [] and len(model.calls) == 1
    assert "Rate the sentiment" in str(model.calls[0][0][0].content)


async def test_when_the_sentiment_model_fails_vader_scores_and_the_agent_answers():
    model = ScriptedChatModel(script=[])  # any call fails loudly (ScriptExhausted)
    result = await graph_with(model).ainvoke(user(CALM_BUT_UPSET), thread())

    assert result.get("handoff") is None and "30 days" in result["final_answer"]


async def test_in_process_the_resume_value_is_the_persons_answer():
    graph, config = graph_with(None), thread()
    await graph.ainvoke(user("please get me a human"), config)
    await graph.ainvoke(Command(resume={"action": "reply", "message": "Sam here.", "author": "sam"}), config)
    state = await graph.aget_state(config)
    assert state.next == ("human",) and state.values["messages"][-1].name == "human_agent"

    refused = await graph.ainvoke(Command(resume={"action": "approve"}), config)
    assert "previous answer refused" in refused["__interrupt__"][0].value["error"]
    await graph.ainvoke(Command(resume={"action": "return"}), config)
    assert (await graph.aget_state(config)).next == ()
    answered = await graph.ainvoke(user("what is (2+3)*4?"), config)
    assert "(2+3)*4 = 20" in answered["final_answer"]
