"""One langgraph-sdk client script, run unchanged against Handrail and against `langgraph dev`."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph_sdk.errors import NotFoundError

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


async def versions_round_trip(client: Any) -> dict[str, Any]:
    """Create an assistant, update it twice, list its versions, switch back to the first, update again."""
    created = await client.assistants.create("agent", name="v1", metadata={"script": "versions"})
    aid = created["assistant_id"]
    await client.assistants.update(aid, name="v2")
    await client.assistants.update(aid, name="v3", metadata={"stage": "review"})
    listed = await client.assistants.get_versions(aid)
    reviewed = await client.assistants.get_versions(aid, metadata={"stage": "review"})
    try:
        unmatched: Any = await client.assistants.get_versions(aid, metadata={"stage": "nowhere"})
    except NotFoundError:
        unmatched = 404
    switched = await client.assistants.set_latest(aid, 1)
    active = await client.assistants.get(aid)
    later = await client.assistants.update(aid, name="v4")
    return {
        "created_version": created["version"],
        "listed": [(v["version"], v["name"]) for v in listed],
        "listed_metadata": listed[0]["metadata"],
        "reviewed": [v["version"] for v in reviewed],
        "unmatched": unmatched,
        "switched": (switched["version"], switched["name"], switched["metadata"]),
        "active": (active["version"], active["name"]),
        "later_version": later["version"],
    }


async def runs_and_threads(client: Any) -> dict[str, Any]:
    """Cancel a finished run, cancel by status with nothing in flight, delete a thread with a run just queued."""
    done = (await client.threads.create())["thread_id"]
    run = await client.runs.create(done, "agent", input={"messages": [{"role": "user", "content": "what is 6*7"}]})
    await client.runs.join(done, run["run_id"])
    try:
        await client.runs.cancel(done, run["run_id"])
        cancel_finished: int | str = "cancelled"
    except NotFoundError:
        cancel_finished = 404
    busy = (await client.threads.create())["thread_id"]
    await client.runs.create(busy, "agent", input=REQUEST)
    await client.threads.delete(busy)
    try:
        await client.threads.get(busy)
        deleted: int | str = "still there"
    except NotFoundError:
        deleted = 404
    return {
        "run_status": (await client.runs.get(done, run["run_id"]))["status"],
        "cancel_finished": cancel_finished,
        "busy_thread_after_delete": deleted,
    }


async def crons_round_trip(client: Any) -> dict[str, Any]:
    """Create a stateless and a thread cron, find and count them, update one, delete one, delete the thread."""
    tag = {"script": str(uuid.uuid4())}  # this run's crons only: the server may hold others
    ask = {"messages": [{"role": "user", "content": "what is 2+2"}]}
    stateless = await client.crons.create("agent", schedule="*/5 * * * *", input=ask, metadata=tag)
    thread = (await client.threads.create())["thread_id"]
    daily = await client.crons.create_for_thread(thread, "agent", schedule="0 9 * * *", input=ask, metadata=tag)
    found = await client.crons.search(metadata=tag, limit=10)
    updated = await client.crons.update(stateless["cron_id"], schedule="0 * * * *", enabled=False)
    counted = await client.crons.count(metadata=tag)
    try:
        await client.crons.create("agent", schedule="not a cron")
        bad_schedule: Any = "accepted"
    except Exception as exc:  # the SDK's error for a 422
        bad_schedule = getattr(getattr(exc, "response", None), "status_code", type(exc).__name__)
    await client.crons.delete(stateless["cron_id"])
    await client.threads.delete(thread)
    return {
        "stateless": (stateless["thread_id"], stateless["on_run_completed"], stateless["enabled"]),
        "for_thread": (daily["thread_id"] == thread, daily["schedule"], daily["payload"]["input"] == ask),
        "next_run_dates": all(c["next_run_date"] for c in (stateless, daily)),
        "found": sorted(c["cron_id"] for c in found) == sorted([stateless["cron_id"], daily["cron_id"]]),
        "updated": (updated["schedule"], updated["enabled"], updated["next_run_date"].split("T")[1][3:5]),
        "counted": counted,
        "bad_schedule": bad_schedule,
        "left_after_deletes": await client.crons.count(metadata=tag),
    }


async def events_round_trip(client: Any) -> dict[str, Any]:
    """Stream `events` and `messages` together, then replay the events by joining the finished run."""
    thread = (await client.threads.create())["thread_id"]
    ask = {"messages": [{"role": "user", "content": "what is 6*7"}]}
    parts = [
        p
        async for p in client.runs.stream(
            thread, "agent", input=ask, stream_mode=["events", "messages"], stream_resumable=True
        )
    ]
    run_id = parts[0].data["run_id"]
    events = [p.data for p in parts if p.event == "events"]
    replayed = [
        p.data
        async for p in client.runs.join_stream(thread, run_id, stream_mode="events", last_event_id="-")
        if p.event == "events"
    ]
    return {
        "first": parts[0].event,
        "kinds": {p.event for p in parts},
        "root": (events[0]["event"], events[0]["name"], events[0]["run_id"] == run_id, events[-1]["event"]),
        "answer": events[-1]["data"]["output"]["final_answer"],
        "tool": [e["data"]["output"] for e in events if e["event"] == "on_tool_end"],
        "graph_stream_events": sum(e["event"] == "on_chain_stream" and not e["parent_ids"] for e in events),
        "completed": [p.data[0]["content"] for p in parts if p.event == "messages/complete"][-1],
        "replayed_same": [e["event"] for e in replayed] == [e["event"] for e in events],
    }
