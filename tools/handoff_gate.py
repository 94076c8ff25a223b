"""The handoff ledger's contract: what a person answered a handoff, confirmed from records a client cannot write.

A thread handed to a person waits in the `human` node. A resume value cannot prove that a person replied,
resolved the handoff or handed the thread back: clients can resume threads with anything. So the node asks
a ledger, and acts on the ledger's answer (the words, the author, the action), never on the resume value.
The service's ledger reads the handoff record and its replies (`handrail.handoffs.PostgresHandoffLedger`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

HandoffAction = Literal["reply", "resolve", "return"]
ACTIONS: tuple[str, ...] = ("reply", "resolve", "return")


@dataclass(frozen=True)
class HandoffAnswer:
    """What a person did, as recorded."""

    action: HandoffAction
    author: str
    message: str | None
    reply_id: str | None = None


class HandoffLedger(Protocol):
    """Confirms an answer to handoff `handoff_id` of thread `thread_id`, or says why it is refused. Must
    not raise for a refusal."""

    async def confirm(self, thread_id: str | None, handoff_id: str, value: Any) -> HandoffAnswer | str: ...


class NoHandoffLedger:
    """The default: with no record to read answers from, none is accepted and the thread stays with the
    person (fail closed)."""

    async def confirm(self, thread_id: str | None, handoff_id: str, value: Any) -> HandoffAnswer | str:
        return "no handoff ledger is configured, so no answer to a handoff can be confirmed"


class InProcessHandoffs:
    """For one trusted caller driving the graph in-process (`langgraph dev`, tests): the resume value is the
    answer, `{"action": "reply" | "resolve" | "return", "message": ..., "author": ...}`. Never behind an API
    other people can reach."""

    async def confirm(self, thread_id: str | None, handoff_id: str, value: Any) -> HandoffAnswer | str:
        if not isinstance(value, dict) or value.get("action") not in ACTIONS:
            return 'an answer is {"action": "reply" | "resolve" | "return", "message": "..."}'
        message = value.get("message")
        if value["action"] == "reply" and not (isinstance(message, str) and message.strip()):
            return "a reply needs a non-empty `message`"
        return HandoffAnswer(
            action=value["action"],
            author=str(value.get("author") or "human"),
            message=message if isinstance(message, str) and message.strip() else None,
            reply_id=value.get("reply_id"),
        )
