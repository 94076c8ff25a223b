"""The context packet a person taking over a conversation reads first, written by rule from the state (pure).

What the user wants (their words), what was tried and what each step returned, what is still open, and the
suggested next action for the signal that fired, so that the person never has to ask the user to repeat it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from llm.protocol import last_user_text

RESULT_CHARS = 300  # of each step's result in the packet: the full results are in the thread's state

_NEXT = {
    "asked_for_human": "Reply to the user yourself: they asked for a person. Start from what they want below.",
    "negative_sentiment": "Acknowledge the user's frustration first, then resolve what they want below.",
    "low_confidence": "Check what the user wants below and do it, or answer with what the assistant could not.",
    "high_stakes": "Decide on the planned high-stakes step below yourself: the assistant did not run it.",
    "consecutive_failures": "Find out why the steps below failed; do the open items by hand or fix the tool, then "
    "reply, or return the thread to the assistant.",
    "guardrail": "Review what the safety check stopped below before anything else is done; then reply.",
}


def context_packet(state: Mapping[str, Any], signal: str, reason: str) -> dict[str, Any]:
    """The packet: `wants`, `earlier_requests`, `tried` (each step with its status and result), `open`,
    `next_action` and `summary` (all of it in a paragraph)."""
    messages: list[BaseMessage] = list(state.get("messages") or [])
    wants = last_user_text(messages)
    earlier = [_text(m) for m in messages if isinstance(m, HumanMessage)][-4:-1]
    tried = [_step(o) for o in state.get("observations") or []]
    done = {o["step"] for o in state.get("observations") or [] if o.get("ok")}
    plan = state.get("plan") or []
    open_items = [
        f"step {i + 1}: {s['tool']} ({s.get('purpose') or 'no purpose given'})"
        + (" - failed" if any(o["step"] == i and not o.get("ok") for o in state.get("observations") or []) else "")
        for i, s in enumerate(plan)
        if i not in done
    ]
    if not done:
        open_items.insert(0, f"the request itself: {wants!r}")
    next_action = _NEXT.get(signal, "Read the request and the steps below, then reply to the user.")
    lines = [f"The user wants: {wants}", f"Handed over because {reason}."]
    if earlier:
        lines.append("Earlier in the conversation they asked: " + " | ".join(earlier))
    lines.append(
        "Tried: " + "; ".join(f"{t['tool']} {t['status']}: {t['result']}" for t in tried)
        if tried
        else "Nothing was tried yet."
    )
    if open_items:
        lines.append("Still open: " + "; ".join(open_items))
    lines.append(f"Suggested next action: {next_action}")
    return {
        "wants": wants,
        "earlier_requests": earlier,
        "tried": tried,
        "open": open_items,
        "next_action": next_action,
        "summary": "\n".join(lines),
        "last_answer": _last_answer(messages),
    }


def _step(observation: Mapping[str, Any]) -> dict[str, Any]:
    if observation.get("ok"):
        result = json.dumps(observation.get("data"), ensure_ascii=False, default=str)
    else:
        result = str(observation.get("error") or "no result")
    if len(result) > RESULT_CHARS:
        result = result[:RESULT_CHARS] + "…"
    return {
        "step": observation["step"] + 1,
        "tool": observation["tool"],
        "args": observation.get("args") or {},
        "status": observation["status"],
        "result": result,
    }


def _text(message: BaseMessage) -> str:
    return message.text if hasattr(message, "text") else str(message.content)


def _last_answer(messages: list[BaseMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return None
        if isinstance(message, AIMessage) and not message.tool_calls:
            return _text(message)
    return None
