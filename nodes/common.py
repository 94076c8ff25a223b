"""Small helpers the nodes share: call keys, step identity and model-call bookkeeping."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage

from graph.state import AgentState
from llm.usage import Usage


def turn_id(messages: list[AnyMessage]) -> str:
    """The id of the user message that started this turn; stable across replays."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return str(message.id)
    return "no-user-message"


def step_call_id(state: AgentState) -> str:
    """A call id that is the same every time this planned step is resolved (replay, retry, crash)
    and different for every other step, so it can serve as the tool's idempotency key."""
    raw = f"{turn_id(state['messages'])}:{state['replans']}:{state['cursor']}"
    return "call_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def add_usage(counters: Mapping[str, Any], used: Usage) -> dict[str, Any]:
    """The turn's token and cost counters after one more model call."""
    return {"tokens": counters["tokens"] + used.tokens, "cost_usd": counters["cost_usd"] + used.cost_usd}
