"""One langgraph-sdk client script, run unchanged against Handrail and against `langgraph dev`."""

from __future__ import annotations

from typing import Any

REQUEST = {"messages": [{"role": "user", "content": "email alice@example.com a summary of the refund policy"}]}


async def approval_round_trip(client: Any) -> dict[str, Any]:
    """Find the assistant, stream to the approval pause, read it from state, approve, read history."""
    (assistant,) = await client.assistants.search(metadata={"created_by": "system"}, graph_id="agent")
    thread = await client.threads.create()
    tid = thread["thread_id"]
    events = [
        p.event
        async for p in client.runs.stream(
            tid, assistant["assistant_id"], input=REQUEST, stream_mode=["updates", "values"]
        )
    ]
    paused = await client.threads.get_state(tid)
    status_paused = (await client.threads.get(tid))["status"]
    result = await client.runs.wait(tid, assistant["assistant_id"], command={"resume": {"decision": "approve"}})
    history = await client.threads.get_history(tid, limit=50)
    return {
        "assistant_id": assistant["assistant_id"],
        "first_event": events[0],
        "event_kinds": set(events),
        "paused_next": paused["next"],
        "paused_tool": paused["tasks"][0]["interrupts"][0]["value"]["tool"],
        "status_paused": status_paused,
        "final_answer": result["final_answer"],
        "status_done": (await client.threads.get(tid))["status"],
        "history_len": len(history),
    }
