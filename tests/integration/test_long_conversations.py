"""A long thread costs per turn what a short one does: the models see a bounded window and a summary,
and with STATE_MAX_MESSAGES the checkpoint is bounded too (on the real Postgres checkpointer)."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.types import Command

from llm.tokens import estimate
from tests.support.agents import make_deps, make_graph, user

TURNS = 200


class PromptSizes(AsyncCallbackHandler):
    """The tokens of every prompt sent to a model, by the node that sent it."""

    def __init__(self) -> None:
        self.sizes: list[tuple[str, int]] = []

    async def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        node = (kwargs.get("metadata") or {}).get("langgraph_node", "?")
        self.sizes.append((node, estimate(messages[0])))


FACT_TURN, USE_TURN = 3, TURNS - 1
PREFERENCE = "always send summaries to finance@acme.test"


def request(turn: int) -> str:
    if turn == FACT_TURN:
        return f"Please remember that {PREFERENCE}"
    if turn == USE_TURN:
        return "email a summary of the refund policy"
    return f"what is {turn}*7" if turn % 2 else f"how many days do I have to request a refund? (asking again, {turn})"


async def run_turns(
    graph: Any, config: dict[str, Any], turns: range, reviewed: list[dict[str, Any]] | None = None
) -> dict[int, dict[str, int]]:
    """Each turn's largest prompt per node. A turn that pauses for approval is approved (its request kept)."""
    per_turn: dict[int, dict[str, int]] = {}
    for turn in turns:
        sizes = PromptSizes()
        result = await graph.ainvoke(user(request(turn)), {**config, "callbacks": [sizes]})
        if "__interrupt__" in result:
            if reviewed is not None:
                reviewed.append(result["__interrupt__"][0].value)
            result = await graph.ainvoke(Command(resume={"decision": "approve"}), {**config, "callbacks": [sizes]})
        assert result["final_answer"], f"turn {turn} has an answer"
        per_turn[turn] = {}
        for node, size in sizes.sizes:
            per_turn[turn][node] = max(size, per_turn[turn].get(node, 0))
    return per_turn


async def test_turn_200_sends_each_model_about_what_turn_20_does_and_a_turn_3_fact_still_counts(pool, thread_config):
    store = AsyncPostgresStore(pool)  # the memory the service gives the graph (migrated with the database)
    graph = make_graph(pool, make_deps(pool, context_max_turns=6), store=store)
    reviewed: list[dict[str, Any]] = []
    per_turn = await run_turns(graph, thread_config, range(1, TURNS + 1), reviewed)

    # Turn 3's words left the window long ago; remembered, they still set turn 199's recipient.
    assert [r["args"]["to"] for r in reviewed] == ["finance@acme.test"]

    for node in ("plan", "synthesize"):
        assert per_turn[TURNS][node] <= 1.5 * per_turn[20][node], (node, per_turn[20], per_turn[TURNS])
    assert per_turn[TURNS]["plan"] < 3 * per_turn[2]["plan"], "bounded near its start, not growing with the thread"
    state = (await graph.aget_state(thread_config)).values
    assert len(state["messages"]) == 2 * TURNS, "by default the state keeps the whole conversation"
    # The summary is bounded (an eighth of CONTEXT_MAX_TOKENS, 4 characters a token) and keeps the latest turns.
    assert len(state["summary"]) <= 4_000 // 8 * 4 and "what is 193*7" in state["summary"]


async def test_with_state_max_messages_the_checkpoint_stops_growing(pool, thread_config):
    deps = dataclasses.replace(make_deps(pool, context_max_turns=4), state_max_messages=10)
    graph = make_graph(pool, deps)
    await run_turns(graph, thread_config, range(1, 41))
    at_40 = (await graph.aget_state(thread_config)).values
    await run_turns(graph, thread_config, range(41, 81))
    at_80 = (await graph.aget_state(thread_config)).values

    assert len(at_40["messages"]) <= 10 and len(at_80["messages"]) <= 10
    assert at_80["messages"][-1].content == at_80["final_answer"]
    assert len(str(at_80)) <= 1.2 * len(str(at_40)), "the checkpoint's state is bounded"
    history = [s async for s in graph.aget_state_history(thread_config)]
    old = {m.content for s in history for m in s.values.get("messages", [])}
    assert "what is 1*7" in old, "a message that left the state stays readable in the thread's history"
