"""Stream modes beyond values/updates, forking a thread from a checkpoint, and on_disconnect=cancel."""

from __future__ import annotations

from tests.e2e.helpers import probe_request, user, wait_for_probe, wait_for_status


async def test_messages_debug_and_custom_modes_stream_what_the_sdk_expects(alice):
    tid = (await alice.threads.create())["thread_id"]
    parts = [
        p
        async for p in alice.runs.stream(
            tid, "agent", input=user("what is 6*7"), stream_mode=["messages-tuple", "debug", "custom"]
        )
    ]
    events = [p.event for p in parts]

    assert events[0] == "metadata" and {"messages", "debug", "custom"} <= set(events)
    message, meta = next(p.data for p in parts if p.event == "messages")
    assert message["type"].startswith("AIMessage") or message["type"] in ("ai", "AIMessageChunk")
    assert meta["langgraph_node"] in ("plan", "execute", "synthesize")
    checkpoints = [p.data for p in parts if p.event == "debug" and p.data["type"] == "checkpoint"]
    assert checkpoints and all({"checkpoint", "parent_checkpoint"} <= c["payload"].keys() for c in checkpoints)
    custom = [p.data for p in parts if p.event == "custom"]
    assert [c["type"] for c in custom] == ["tool_started", "tool_finished"]
    assert custom[1]["tool"] == "calculator" and custom[1]["ok"] is True


async def test_an_events_stream_carries_astream_events_and_is_replayed_by_join(alice):
    tid = (await alice.threads.create())["thread_id"]
    parts = [
        p async for p in alice.runs.stream(tid, "agent", input=user("what is 6*7"), stream_mode=["events", "values"])
    ]
    run_id = parts[0].data["run_id"]
    events = [p.data for p in parts if p.event == "events"]

    assert parts[0].event == "metadata" and any(p.event == "values" for p in parts)
    root_start, root_end = events[0], events[-1]
    assert (root_start["event"], root_start["name"], root_start["run_id"]) == ("on_chain_start", "agent", run_id)
    assert root_start["parent_ids"] == [] and root_end["event"] == "on_chain_end"
    assert root_end["data"]["output"]["final_answer"] == "6*7 = 42"
    kinds = {(e["event"], e["name"]) for e in events}
    assert {("on_chain_start", "plan"), ("on_chat_model_start", "OfflineChatModel"), ("on_tool_end", "calculator")} <= (
        kinds
    )
    tool_end = next(e for e in events if e["event"] == "on_tool_end")
    assert tool_end["data"]["output"]["result"] == 42 and run_id in tool_end["parent_ids"]
    # The graph's own stream events are what the other modes are made of: they are not sent as events.
    assert not [e for e in events if e["event"] == "on_chain_stream" and not e["parent_ids"]]

    replayed = [p.data async for p in alice.runs.join_stream(tid, run_id, stream_mode="events", last_event_id="-")]
    assert [e for e in replayed if "event" in e] == events


async def test_messages_mode_streams_metadata_once_then_each_whole_message(alice):
    tid = (await alice.threads.create())["thread_id"]
    parts = [p async for p in alice.runs.stream(tid, "agent", input=user("what is 6*7"), stream_mode="messages")]
    kinds = [p.event for p in parts]

    assert kinds[0] == "metadata" and "messages" not in kinds, "the three-event form, not tuples"
    assert set(kinds[1:]) == {"messages/metadata", "messages/complete"}
    described: list[str] = []
    for part in parts[1:]:
        if part.event == "messages/metadata":
            ((message_id, body),) = part.data.items()
            assert message_id not in described and body["metadata"]["langgraph_node"]
            described.append(message_id)
        else:
            (message,) = part.data
            assert message["id"] == described[-1], "a message's metadata comes just before it"
    answers = [p.data[0]["content"] for p in parts if p.event == "messages/complete"]
    assert answers[-1] == "6*7 = 42"
    tuples = [p async for p in alice.runs.join_stream(tid, parts[0].data["run_id"], stream_mode="messages-tuple")]
    assert [p.event for p in tuples] == ["metadata"], "a join asking for tuples gets none of another form"


async def test_a_thread_can_be_forked_from_an_earlier_checkpoint(alice):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 6*7"))
    history = await alice.threads.get_history(tid, limit=50)
    fork_point = next(h for h in history if h["next"] == ["synthesize"])
    assert fork_point["values"]["final_answer"] is None

    result = await alice.runs.wait(tid, "agent", input=None, checkpoint_id=fork_point["checkpoint"]["checkpoint_id"])

    assert "6*7 = 42" in result["final_answer"]
    latest = await alice.threads.get_state(tid)
    # LangGraph records the branch as a `fork` checkpoint whose parent is the chosen point.
    branch = await alice.threads.get_state(tid, checkpoint_id=latest["parent_checkpoint"]["checkpoint_id"])
    assert branch["metadata"]["source"] == "fork"
    assert branch["parent_checkpoint"]["checkpoint_id"] == fork_point["checkpoint"]["checkpoint_id"]
    all_ids = {h["checkpoint"]["checkpoint_id"] for h in await alice.threads.get_history(tid, limit=100)}
    assert history[0]["checkpoint"]["checkpoint_id"] in all_ids, "the original branch is kept"


async def test_a_stream_with_on_disconnect_cancel_cancels_the_run_when_the_client_leaves(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    run_id = None
    async for part in alice.runs.stream(
        tid, "agent", input=probe_request(("left", 60)), stream_mode="updates", on_disconnect="cancel"
    ):
        if part.event == "metadata":
            run_id = part.data["run_id"]
            await wait_for_probe(pool, tid, "left")
            break  # the client goes away mid-run

    assert run_id is not None
    assert await wait_for_status(alice, tid, run_id, {"interrupted", "success", "error"}) == "interrupted"
