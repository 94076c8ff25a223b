"""Storage that grows with turns, not their square: `values` events as deltas, checkpoint and event-log
pruning, POST /threads/prune. Readers must never see the difference."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import pytest

from handrail import prune
from tests.e2e.helpers import EMAIL_REQUEST, user
from tests.support.waiting import eventually

QUESTION = "what is (2+3)*4 and what time is it in Tokyo?"


async def stored_values(pool, run_id: str) -> list[dict]:
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                "SELECT seq, data, base_seq FROM run_events WHERE run_id = %s AND event = 'values' ORDER BY seq",
                (run_id,),
            )
        ).fetchall()


async def checkpoint_ids(pool, thread_id: str) -> list[str]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = '' "
                "ORDER BY checkpoint_id DESC",
                (thread_id,),
            )
        ).fetchall()
    return [r["checkpoint_id"] for r in rows]


async def settled(pool, thread_id: str) -> None:
    """Until the worker's own prune after the thread's last run is done (it runs after the client's answer)."""

    async def pruned() -> bool:
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT t.pruned_at >= max(r.ended_at) AS done FROM threads t JOIN runs r USING (thread_id) "
                    "WHERE t.thread_id = %s GROUP BY t.pruned_at",
                    (thread_id,),
                )
            ).fetchone()
        return bool(row and row["done"])

    await eventually(pruned)


async def test_values_events_are_stored_as_deltas_and_replayed_whole(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 2+2"))  # a history to carry into the next run
    live = [p async for p in alice.runs.stream(tid, "agent", input=user(QUESTION), stream_mode="values")]
    run_id = live[0].data["run_id"]
    live_values = [p.data for p in live if p.event == "values"]

    stored = await stored_values(pool, run_id)
    assert len(stored) == len(live_values) > 3
    assert stored[0]["base_seq"] is None and all(r["base_seq"] is not None for r in stored[1:])
    assert all("what is 2+2" not in str(r["data"]) for r in stored[1:]), "a delta repeats the history"

    replay = [p async for p in alice.runs.join_stream(tid, run_id, last_event_id="-")]
    assert [p.data for p in replay if p.event == "values"] == live_values
    # A reader joining after the third event starts on a delta: it still gets whole states.
    middle = [p async for p in alice.runs.join_stream(tid, run_id, last_event_id=str(stored[2]["seq"]))]
    assert [p.data for p in middle if p.event == "values"] == live_values[3:]
    assert live_values[-1]["messages"][0]["content"] == "what is 2+2"


async def test_a_waits_output_points_at_the_last_values_event_and_reads_back_whole(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    result = await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))  # pauses for approval

    state = await alice.threads.get_state(tid)
    assert result["__interrupt__"] and {k: v for k, v in result.items() if k != "__interrupt__"} == state["values"]
    run = (await alice.runs.list(tid))[0]
    async with pool.connection() as conn:
        end = await (
            await conn.execute("SELECT data FROM run_events WHERE run_id = %s AND event = '__end__'", (run["run_id"],))
        ).fetchone()
    assert "output" not in end["data"] and end["data"]["output_of"] is not None
    assert await alice.runs.join(tid, run["run_id"]) == result


async def test_a_wait_records_only_its_final_state_unless_its_stream_is_resumable(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    waited = await alice.runs.wait(tid, "agent", input=user(QUESTION))
    streamed = [p async for p in alice.runs.stream(tid, "agent", input=user("what is 2+2"), stream_mode="values")]
    body = {"assistant_id": "agent", "input": user("what is 3+3"), "stream_resumable": True}  # not in the SDK's wait
    resumable = await alice.http.post(f"/threads/{tid}/runs/wait", json=body)
    # runs.list is newest first
    resumable_run, streamed_run, waited_run = [r["run_id"] for r in await alice.runs.list(tid)]

    assert len(await stored_values(pool, waited_run)) == 1, "a /wait has no reader of its intermediate states"
    assert len(await stored_values(pool, streamed_run)) == len([p for p in streamed if p.event == "values"]) > 3
    assert len(await stored_values(pool, resumable_run)) > 3, "a resumable stream can be replayed whole"
    # The one state kept is the run's output, and a late reader still gets it.
    assert await alice.runs.join(tid, waited_run) == waited
    replay = [p async for p in alice.runs.join_stream(tid, waited_run, last_event_id="-")]
    assert [p.data for p in replay if p.event == "values"] == [waited]
    assert (await alice.runs.get(tid, resumable_run))["status"] == "success" and resumable["messages"]


async def test_superseded_checkpoints_are_pruned_but_forks_tips_and_the_state_are_kept(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 6*7"))
    history = await alice.threads.get_history(tid, limit=100)
    fork_point = next(h for h in history if h["next"] == ["synthesize"])["checkpoint"]["checkpoint_id"]
    await alice.runs.wait(tid, "agent", input=None, checkpoint_id=fork_point)  # a second branch
    old_tip = history[0]["checkpoint"]["checkpoint_id"]
    for _ in range(3):
        await alice.runs.wait(tid, "agent", input=user(QUESTION))
    await settled(pool, tid)
    before = await checkpoint_ids(pool, tid)
    state_before = await alice.threads.get_state(tid)

    removed = await prune.prune_thread(pool, tid, keep=3)

    after = await checkpoint_ids(pool, tid)
    assert removed == len(before) - len(after) > 0
    assert after[:3] == before[:3], "the latest three are kept"
    assert {fork_point, old_tip} <= set(after), "the fork point and the other branch's tip are kept"
    await prune.prune_thread(pool, tid, keep=3)
    assert await checkpoint_ids(pool, tid) == after, "a second prune finds nothing more: the fork stays a fork"
    assert await alice.threads.get_state(tid) == state_before, "every blob the head needs is still there"
    async with pool.connection() as conn:
        orphans = await (
            await conn.execute(
                "SELECT count(*) AS n FROM checkpoint_writes w WHERE thread_id = %s AND NOT EXISTS "
                "(SELECT 1 FROM checkpoints c WHERE c.thread_id = w.thread_id AND c.checkpoint_id = w.checkpoint_id)",
                (tid,),
            )
        ).fetchone()
    assert orphans["n"] == 0
    result = await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
    assert "4" in result["final_answer"]


async def test_a_thread_with_a_run_in_flight_is_not_pruned(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    for _ in range(2):
        await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO runs (run_id, thread_id, assistant_id, user_id, available_at) "
            "SELECT gen_random_uuid(), %s, assistant_id, user_id, now() + interval '1 hour' FROM runs "
            "WHERE thread_id = %s LIMIT 1",
            (tid, tid),
        )
    await settled(pool, tid)
    before = await checkpoint_ids(pool, tid)

    assert await prune.prune_thread(pool, tid, keep=1) == 0
    assert await checkpoint_ids(pool, tid) == before


async def test_post_threads_prune_keeps_only_the_latest_state_or_deletes(alice, bob):
    kept = (await alice.threads.create())["thread_id"]
    deleted = (await alice.threads.create())["thread_id"]
    for tid in (kept, deleted):
        await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
    state = await alice.threads.get_state(kept)
    http = alice.http

    assert await http.post("/threads/prune", json={"thread_ids": [kept], "strategy": "keep_latest"}) == {
        "pruned_count": 1
    }
    assert await alice.threads.get_state(kept) == state
    assert len(await alice.threads.get_history(kept, limit=100)) == 1
    assert await bob.http.post("/threads/prune", json={"thread_ids": [deleted]}) == {"pruned_count": 0}
    assert await http.post("/threads/prune", json={"thread_ids": [deleted]}) == {"pruned_count": 1}
    with pytest.raises(httpx.HTTPStatusError, match="not found"):
        await alice.threads.get(deleted)


async def test_post_threads_prune_refuses_a_bad_body_with_a_reason(base_url):

    from tests.e2e.conftest import KEYS

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        for body in ({}, {"thread_ids": []}, {"thread_ids": ["not-a-uuid"]}, {"thread_ids": [], "strategy": "x"}):
            response = await http.post("/threads/prune", json=body)
            assert response.status_code == 422, body
            assert response.json()["detail"]


async def test_event_logs_past_their_retention_are_pruned_down_to_the_end_marker(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    run = await alice.runs.create(tid, "agent", input=user("what is 2+2"), stream_mode=["values", "updates"])
    await alice.runs.join(tid, run["run_id"])

    done = await prune.prune_pass(pool, keep=20, retention_s=0, batch=10_000)

    assert done.runs >= 1 and done.events > 0
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT event, data FROM run_events WHERE run_id = %s", (run["run_id"],))
        ).fetchall()
    assert [r["event"] for r in rows] == ["__end__"] and rows[0]["data"]["pruned"] is True
    assert await alice.runs.join(tid, run["run_id"]) is None
    assert (await alice.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_only_the_newest_run_keeps_the_whole_state_and_older_runs_still_replay(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    first = [p async for p in alice.runs.stream(tid, "agent", input=user("what is 2+2"), stream_mode="values")]
    first_id, first_values = first[0].data["run_id"], [p.data for p in first if p.event == "values"]
    second = [p async for p in alice.runs.stream(tid, "agent", input=user(QUESTION), stream_mode="values")]
    second_id = second[0].data["run_id"]

    async def compacted() -> bool:
        return (await stored_values(pool, first_id))[0]["data"] != first_values[0]

    await eventually(compacted)
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT base_run, data FROM run_events WHERE run_id = %s AND event = 'values' ORDER BY seq LIMIT 1",
                (first_id,),
            )
        ).fetchone()
    assert str(row["base_run"]) == second_id and "what is 2+2" not in str(row["data"])

    async def replayed(run_id: str) -> list[dict]:
        return [p.data async for p in alice.runs.join_stream(tid, run_id, last_event_id="-") if p.event == "values"]

    assert await replayed(first_id) == first_values
    assert (await alice.runs.join(tid, first_id))["messages"] == first_values[-1]["messages"]
    await alice.runs.delete(tid, second_id)  # what the first run's events were kept against
    assert await replayed(first_id) == first_values


async def test_the_prune_command_prunes_and_says_what_it_did(alice, pool, database_url):
    tid = (await alice.threads.create())["thread_id"]
    for _ in range(2):
        await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
    await settled(pool, tid)  # the worker has pruned it with the server's CHECKPOINTS_KEEP: nothing changed since
    before = await checkpoint_ids(pool, tid)

    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handrail",
        "prune",
        "--keep",
        "2",
        "--events-older-than",
        "3600",
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "ERROR"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(command.communicate(), timeout=60)

    assert command.returncode == 0
    assert out.decode().startswith("pruned ") and "checkpoints of" in out.decode()
    assert len(await checkpoint_ids(pool, tid)) < len(before)
    assert (await alice.threads.get_state(tid))["values"]["final_answer"]
