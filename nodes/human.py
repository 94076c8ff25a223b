"""human: the thread is with a person. This node only asks: it pauses with the handoff as the pending item.

It re-runs from its start on every resume, so it has no side effects. An answer counts only as the handoff
ledger confirms it (tools/handoff_gate.py): the words shown and the action taken are the recorded ones, not
the resume value's. A reply is appended as the person's message and the thread waits again; `resolve`
closes the handoff with the person's last word; `return` hands the thread back to the agent.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from nodes.handoff import handoff_id
from tools.handoff_gate import HandoffAnswer

HUMAN_NAME = "human_agent"  # the `name` of a person's messages (providers accept [A-Za-z0-9_-] only)


def handoff_request(handoff: dict[str, Any]) -> dict[str, Any]:
    """The interrupt payload: the pending item a person (and the service) reads."""
    return {
        "type": "handoff",
        "handoff_id": handoff["handoff_id"],
        "signal": handoff["signal"],
        "reason": handoff["reason"],
        "priority": handoff["priority"],
        "packet": handoff.get("packet") or {},
        "actions": ["reply", "resolve", "return"],
    }


def make_human(deps: AgentDeps) -> NodeFn:
    async def human(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Wait for a person; act only on what the ledger confirms."""
        handoff = state.get("handoff")
        assert handoff is not None and handoff.get("handoff_id"), "routing only sends open handoffs here"
        info = runtime.execution_info if runtime is not None else None
        here = info.thread_id if info is not None else None
        current: dict[str, Any] = dict(handoff)
        if here and handoff.get("thread_id") not in (None, here):  # a copy of the thread: a handoff of its own
            current["handoff_id"] = handoff_id(here, handoff["handoff_id"], handoff["signal"])
        request = handoff_request(current)
        payload = request
        while True:
            value = interrupt(payload)
            answer = await deps.handoffs.confirm(here, current["handoff_id"], value)
            if isinstance(answer, HandoffAnswer):
                return _applied(current, answer, here)
            payload = {**request, "error": f"previous answer refused: {answer}"}

    return human


def _applied(handoff: dict[str, Any], answer: HandoffAnswer, thread_id: str | None) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if thread_id and handoff.get("thread_id") not in (None, thread_id):
        update["handoff"] = {**handoff, "thread_id": thread_id}  # the copy's own, from now on
    if answer.message:
        said = AIMessage(
            content=answer.message,
            name=HUMAN_NAME,
            id=answer.reply_id or str(uuid.uuid4()),
            response_metadata={"handoff_id": handoff["handoff_id"], "author": answer.author},
        )
        update |= {"messages": [said], "final_answer": answer.message}
    if answer.action == "resolve":
        update["handoff"] = {**handoff, "status": "resolved", "thread_id": thread_id or handoff.get("thread_id")}
    elif answer.action == "return":
        update["handoff"] = {**handoff, "status": "returned", "thread_id": thread_id or handoff.get("thread_id")}
        update["stop_reason"] = None
    return update
