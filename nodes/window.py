"""The context window: what of a long conversation the models are sent, and how older turns are folded.

A thread keeps every message (chat UIs and Studio render `values.messages`), but a model is sent only
the last `context_max_turns` turns verbatim, cut further to `context_max_tokens`, plus a running
summary of the turns before them. So turn 200 costs what turn 20 does. A turn is a user message and
what followed it; earlier turns' tool observations are never re-sent (they live in `observations`,
which a new turn resets): only the request and the answer that used them.

The summary is updated when a turn ends (`compact`, called by synthesize), by the answer model, or by
rule with the offline model. With `STATE_MAX_MESSAGES` the state is bounded too: summarized messages
beyond it leave `messages` through `RemoveMessage`, and stay readable in the thread's history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, RemoveMessage, SystemMessage

from llm.offline_summary import summarize
from llm.protocol import embed
from llm.tokens import TokenCounter
from llm.usage import Usage

logger = logging.getLogger("handrail.nodes")

SUMMARY_PROMPT = """Update the running summary of a conversation between a user and an agent. Keep
what later turns may need: facts the user stated, preferences, decisions, names, addresses, ids of
things created, and what was done or refused. Drop small talk. Write at most 200 words, as short lines.
Answer with the summary only."""


def turns(messages: Sequence[BaseMessage]) -> list[list[BaseMessage]]:
    """The conversation cut into turns, each starting at a user message (anything before the first
    user message is a turn of its own)."""
    out: list[list[BaseMessage]] = []
    for message in messages:
        if isinstance(message, HumanMessage) or not out:
            out.append([])
        out[-1].append(message)
    return out


def kept_turns(all_turns: list[list[BaseMessage]], max_turns: int, max_tokens: int, count: TokenCounter) -> int:
    """How many of the last turns fit: at most `max_turns`, and within `max_tokens` unless it is the
    latest turn alone (the request being answered is always sent; the input guardrail bounds it)."""
    kept, used = 0, 0
    for turn in reversed(all_turns[-max_turns:] if max_turns > 0 else []):
        cost = count(turn)
        if kept and used + cost > max_tokens:
            break
        kept, used = kept + 1, used + cost
    return kept


def window(
    messages: Sequence[BaseMessage], summary: str | None, *, max_turns: int, max_tokens: int, count: TokenCounter
) -> list[BaseMessage]:
    """What the planner is sent of the conversation: the latest turns that fit, the summary's share of
    `max_tokens` taken first."""
    budget = max_tokens - (count([SystemMessage(summary)]) if summary else 0)
    all_turns = turns(messages)
    kept = kept_turns(all_turns, max_turns, budget, count)
    return [m for turn in all_turns[len(all_turns) - kept :] for m in turn]


Ask = Callable[[list[BaseMessage]], Awaitable[tuple[str, Usage] | None]]
"""Asks the summary model (its budget checked): its text and usage, or None when it may not or failed."""


async def compact(
    state: Mapping[str, Any],
    answer: BaseMessage,
    *,
    ask: Ask,
    max_turns: int,
    max_tokens: int,
    state_max_messages: int,
    count: TokenCounter,
) -> tuple[dict[str, Any], Usage]:
    """At a turn's end: fold the turns that will not be in the next turn's window into the summary
    (the next turn adds one, so `max_turns - 1` of these stay), and trim the state when it is bounded.
    Returns the state update and what the summary call used."""
    messages = [*state["messages"], answer]
    through = state.get("summarized_through")
    all_turns = turns(messages)
    stay = kept_turns(all_turns, max_turns - 1, max_tokens, count) if max_turns > 1 else 0
    leaving = [m for turn in all_turns[: len(all_turns) - stay] for m in turn]
    start = _after(leaving, through)
    update: dict[str, Any] = {}
    used = Usage()
    if start < len(leaving) and leaving[-1].id:
        summary, used = await _summarize(ask, state.get("summary"), leaving[start:], max_tokens)
        update = {"summary": summary, "summarized_through": leaving[-1].id}
        through = leaving[-1].id
    if state_max_messages and len(messages) > state_max_messages:
        covered = _after(messages, through)  # only what the summary holds may leave the state
        drop = min(covered, len(messages) - state_max_messages)
        if drop > 0:
            update["messages"] = [RemoveMessage(id=m.id) for m in messages[:drop] if m.id]
    return update, used


def _after(messages: Sequence[BaseMessage], message_id: str | None) -> int:
    """The index just after `message_id` in `messages` (0 when absent: nothing of them is summarized)."""
    if message_id is None:
        return 0
    for index, message in enumerate(messages):
        if message.id == message_id:
            return index + 1
    return 0


async def _summarize(ask: Ask, previous: str | None, leaving: list[BaseMessage], max_tokens: int) -> tuple[str, Usage]:
    """The summary with `leaving` folded in. When the model may not be asked (budget) or fails, the old
    summary plus the new turns by rule: a turn never ends in an error because of its summary."""
    data = {"summary_so_far": previous or "", "turns": [_said(m) for m in leaving], "summary_tokens": max_tokens // 8}
    answered = await ask([SystemMessage(SUMMARY_PROMPT + "\n" + embed(data)), HumanMessage("Update the summary.")])
    if answered is not None and answered[0].strip():
        return answered[0].strip(), answered[1]
    return summarize(data), Usage()


def _said(message: BaseMessage) -> dict[str, str]:
    role = "user" if isinstance(message, HumanMessage) else message.type
    return {"role": role, "text": str(message.text if hasattr(message, "text") else message.content)}
