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
