"""The official langgraph-sdk client against a Handrail server over HTTP: threads, streaming,
approval interrupts resumed through `command`, history, background runs, cancel and multitasking."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk.errors import BadRequestError, ConflictError, NotFoundError

from tests.e2e.helpers import (
    EMAIL_REQUEST,
    outbox_count,
    probe_request,
    probe_rows,
    user,
    wait_for_probe,
    wait_for_status,
)
from tests.support.waiting import eventually


async def paused_thread(client) -> tuple[str, list]:
    thread = await client.threads.create()
    parts = [
        p
        async for p in client.runs.stream(
            thread["thread_id"], "agent", input=user(EMAIL_REQUEST), stream_mode=["updates", "values"]
        )
    ]
    return thread["thread_id"], parts


async def test_a_streamed_run_pauses_at_send_email_and_the_state_shows_the_interrupt(alice):
    thread_id, parts = await paused_thread(alice)

    assert parts[0].event == "metadata" and parts[0].data["run_id"]
    updates = [p.data for p in parts if p.event == "updates"]
    assert [next(iter(u)) for u in updates[:2]] == ["plan", "execute"]
    interrupt = updates[-1]["__interrupt__"][0]
    assert interrupt["value"]["tool"] == "send_email" and interrupt["id"]
    last_values = [p.data for p in parts if p.event == "values"][-1]
    assert last_values["__interrupt__"][0]["value"]["approval_id"] == interrupt["value"]["approval_id"]

    state = await alice.threads.get_state(thread_id)
    assert state["next"] == ["approve"]
    payload = state["tasks"][0]["interrupts"][0]["value"]
    assert payload["preview"].startswith("send email to alice@example.com")
    assert {"approval_id", "tool", "args", "risk", "purpose", "preview"} <= payload.keys()
    thread = await alice.threads.get(thread_id)
    assert thread["status"] == "interrupted"
    assert list(thread["interrupts"].values())[0][0]["value"]["tool"] == "send_email"


async def test_resume_with_approve_finishes_and_sends_the_email_once(alice, pool):
    thread_id, _ = await paused_thread(alice)
    result = await alice.runs.wait(thread_id, "agent", command={"resume": {"decision": "approve"}})

    assert "alice@example.com" in result["final_answer"]
    assert await outbox_count(pool, thread_id) == 1
    assert (await alice.threads.get(thread_id))["status"] == "idle"
    with pytest.raises(httpx.HTTPStatusError) as refused:  # nothing is paused any more
        await alice.runs.wait(thread_id, "agent", command={"resume": {"decision": "approve"}})
    assert refused.value.response.status_code == 400
    assert await outbox_count(pool, thread_id) == 1


async def test_resume_with_edit_sends_the_edited_email(alice, pool):
    thread_id, _ = await paused_thread(alice)
    edit = {"decision": "edit", "args": {"to": "carol@example.com"}, "feedback": "send it to Carol"}
    result = await alice.runs.wait(thread_id, "agent", command={"resume": edit})

    assert result["observations"][-1]["args"]["to"] == "carol@example.com"
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT recipient FROM outbox WHERE thread_id = %s", (thread_id,))).fetchone()
    assert row["recipient"] == "carol@example.com"


async def test_resume_with_reject_sends_nothing_and_the_answer_says_so(alice, pool):
    thread_id, _ = await paused_thread(alice)
    reject = {"decision": "reject", "feedback": "not to customers"}
    parts = [p async for p in alice.runs.stream(thread_id, "agent", command={"resume": reject}, stream_mode="values")]

    final = parts[-1].data
    assert "not to customers" in final["final_answer"]
    assert await outbox_count(pool, thread_id) == 0


async def test_an_invalid_resume_is_refused_with_400_and_the_thread_stays_paused(alice, pool):
    thread_id, _ = await paused_thread(alice)
    with pytest.raises(BadRequestError, match="decision must be one of approve, edit, reject"):
        await alice.runs.create(thread_id, "agent", command={"resume": {"decision": "maybe"}})
    with pytest.raises(BadRequestError, match="edited arguments are invalid"):
        await alice.runs.create(thread_id, "agent", command={"resume": {"decision": "edit", "args": {"to": "nope"}}})

    assert (await alice.threads.get_state(thread_id))["next"] == ["approve"]
    assert (await alice.threads.get(thread_id))["status"] == "interrupted"
    assert await outbox_count(pool, thread_id) == 0


async def test_history_lists_checkpoints_newest_first_and_each_can_be_read(alice):
    thread_id, _ = await paused_thread(alice)
    history = await alice.threads.get_history(thread_id, limit=20)

    assert history[0]["next"] == ["approve"]
    assert history[-1]["next"] == ["__start__"]
    created = [h["created_at"] for h in history]
    assert created == sorted(created, reverse=True)
    older = history[3]
    again = await alice.threads.get_state(thread_id, checkpoint_id=older["checkpoint"]["checkpoint_id"])
    assert again["values"] == older["values"] and again["next"] == older["next"]


async def test_a_background_run_returns_pending_and_can_be_joined(alice):
    thread = await alice.threads.create()
    run = await alice.runs.create(thread["thread_id"], "agent", input=user("what is 6*7"))

    assert run["status"] == "pending"
    result = await alice.runs.join(thread["thread_id"], run["run_id"])
    assert "6*7 = 42" in result["final_answer"]
    assert (await alice.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
    listed = await alice.runs.list(thread["thread_id"])
    assert [r["run_id"] for r in listed] == [run["run_id"]]


async def test_a_running_run_can_be_cancelled(alice, pool):
    thread = await alice.threads.create()
    tid = thread["thread_id"]
    run = await alice.runs.create(tid, "agent", input=probe_request(("slow", 60)))
    await wait_for_probe(pool, tid, "slow")

    await alice.runs.cancel(tid, run["run_id"])

    assert await wait_for_status(alice, tid, run["run_id"], {"interrupted", "success", "error"}) == "interrupted"
    assert ("slow", "finished") not in await probe_rows(pool, tid)
    assert (await alice.threads.get(tid))["status"] != "busy"
    with pytest.raises(NotFoundError):  # nothing left to cancel
        await alice.runs.cancel(tid, run["run_id"])


async def test_multitask_reject_refuses_a_second_run_while_one_is_running(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    first = await alice.runs.create(tid, "agent", input=probe_request(("busy", 60)))
    await wait_for_probe(pool, tid, "busy")

    with pytest.raises(ConflictError, match="is busy with run"):
        await alice.runs.create(tid, "agent", input=user("what is 1+1"), multitask_strategy="reject")
    await alice.runs.cancel(tid, first["run_id"], wait=True)


async def test_multitask_enqueue_runs_the_second_run_after_the_first(alice, pool):
    tid = (await alice.threads.create())["thread_id"]
    first = await alice.runs.create(tid, "agent", input=probe_request(("one", 0.5)))
    await wait_for_probe(pool, tid, "one")
    second = await alice.runs.create(tid, "agent", input=probe_request(("two", 0)), multitask_strategy="enqueue")

    assert second["status"] == "pending"
    await alice.runs.join(tid, second["run_id"])
    assert (await alice.runs.get(tid, first["run_id"]))["status"] == "success"
    assert await probe_rows(pool, tid) == [
        ("one", "started"),
        ("one", "finished"),
        ("two", "started"),
        ("two", "finished"),
    ]


async def test_runs_created_at_once_on_one_thread_all_run_one_at_a_time(alice, pool):
    # Creation starts a run in the API's own worker when it can; several at once on one thread race
    # for that start, and the losers must queue (one running run per thread), not fail.
    tid = (await alice.threads.create())["thread_id"]
    labels = [f"r{i}" for i in range(6)]
    created = await asyncio.gather(*(alice.runs.create(tid, "agent", input=probe_request((x, 0.05))) for x in labels))

    assert all(r["status"] == "pending" for r in created)
    for run in created:
        await alice.runs.join(tid, run["run_id"])
    assert {(await alice.runs.get(tid, r["run_id"]))["status"] for r in created} == {"success"}
    rows = await probe_rows(pool, tid)
    assert sorted(label for label, _ in rows) == sorted(labels * 2)
    for i in range(0, len(rows), 2):  # each run finished before the next one started
        assert rows[i][0] == rows[i + 1][0] and (rows[i][1], rows[i + 1][1]) == ("started", "finished")


async def test_two_runs_started_in_the_same_instant_on_one_thread_queue_instead_of_failing(alice, pool):
    # Both creations wait on the thread's row lock with snapshots from before either run existed: each
    # sees the thread idle and starts its run at once; the one-running-per-thread index refuses the
    # second, which must then be queued behind the first.
    tid = (await alice.threads.create())["thread_id"]
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE", (tid,))
        creating = [
            asyncio.create_task(alice.runs.create(tid, "agent", input=probe_request((x, 0.05)))) for x in ("a", "b")
        ]

        async def both_blocked() -> bool:
            async with pool.connection() as other:
                row = await (
                    await other.execute(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE '%%UPDATE threads SET status%%'"
                    )
                ).fetchone()
            return row["n"] == 2

        await eventually(both_blocked)
    created = await asyncio.gather(*creating)

    for run in created:
        await alice.runs.join(tid, run["run_id"])
    assert {(await alice.runs.get(tid, r["run_id"]))["status"] for r in created} == {"success"}
    rows = await probe_rows(pool, tid)
    assert [phase for _, phase in rows] == ["started", "finished", "started", "finished"]
    assert rows[0][0] == rows[1][0] != rows[2][0] == rows[3][0]


async def test_a_stateless_wait_returns_the_answer(alice):
    result = await alice.runs.wait(None, "agent", input=user("what time is it in Tokyo?"))
    assert "Asia/Tokyo" in result["final_answer"]


async def test_a_joined_stream_replays_after_last_event_id(alice, base_url):
    tid = (await alice.threads.create())["thread_id"]
    run = await alice.runs.create(tid, "agent", input=user("what is 2+2"), stream_mode=["updates"])
    await alice.runs.join(tid, run["run_id"])

    replay = [p async for p in alice.runs.join_stream(tid, run["run_id"], last_event_id="-")]
    assert replay[0].event == "metadata"
    assert [next(iter(p.data)) for p in replay[1:]] == ["plan", "execute", "reflect", "synthesize"]
