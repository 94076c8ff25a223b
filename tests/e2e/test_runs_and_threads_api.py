"""Runs and threads as a new SDK user meets them: deleting a busy thread, cancelling in every state,
cancelling by status, and updating the state of a thread that has never run."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import BadRequestError, NotFoundError

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import probe_request, probe_rows, user, wait_for_probe, wait_for_status
from tests.e2e.test_replicas import replicas  # noqa: F401  (the two-replica fixture)
from tests.support.probe_tools import PROBE_TABLE

BOUND_S = 30


async def checkpoint_count(pool, thread_id: str) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (thread_id,))
        ).fetchone()
    return int(row["n"])


async def run_row(pool, run_id: str):
    async with pool.connection() as conn:
        return await (await conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))).fetchone()


async def test_deleting_a_thread_with_a_running_run_cancels_the_run_then_deletes_the_thread(alice, pool):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        run = await alice.runs.create(tid, "agent", input=probe_request(("slow", 3)))
        await wait_for_probe(pool, tid, "slow")

        await alice.threads.delete(tid)

        with pytest.raises(NotFoundError):
            await alice.threads.get(tid)
        assert await run_row(pool, run["run_id"]) is None
        # The worker stopped the run: the probe never finishes and nothing is written for the thread after.
        await asyncio.sleep(4)  # longer than the probe would have taken
        assert ("slow", "finished") not in await probe_rows(pool, tid)
        assert await checkpoint_count(pool, tid) == 0


async def test_cancelling_a_run_that_a_client_is_streaming_settles_it_promptly(alice, pool):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        seen: list[str] = []

        async def read() -> None:
            async for part in alice.runs.stream(tid, "agent", input=probe_request(("streamed", 60))):
                seen.append(part.event)
                if part.event == "metadata":
                    seen.append(part.data["run_id"])

        reader = asyncio.create_task(read())
        await wait_for_probe(pool, tid, "streamed")
        run_id = seen[1]

        await alice.runs.cancel(tid, run_id)

        async with asyncio.timeout(5):  # not the 15 s it once took
            assert await wait_for_status(alice, tid, run_id, {"interrupted", "success", "error"}) == "interrupted"
            await reader
        assert "error" not in seen


async def test_cancel_with_wait_answers_once_the_run_is_final(alice, pool):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        run = await alice.runs.create(tid, "agent", input=probe_request(("waited", 60)))
        await wait_for_probe(pool, tid, "waited")

        await alice.runs.cancel(tid, run["run_id"], wait=True)

        assert (await alice.runs.get(tid, run["run_id"]))["status"] == "interrupted"


async def test_cancel_with_wait_of_a_run_that_just_finished_answers_with_its_result(alice):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        run = await alice.runs.create(tid, "agent", input=user("what is 6*7"))
        await alice.runs.join(tid, run["run_id"])

        result = await alice.runs.cancel(tid, run["run_id"], wait=True)

        assert "6*7 = 42" in result["final_answer"]
        assert (await alice.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_cancel_many_by_status_pending_cancels_only_the_queued_runs(alice, bob, pool):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        first = await alice.runs.create(tid, "agent", input=probe_request(("first", 60)))
        await wait_for_probe(pool, tid, "first")
        queued = await alice.runs.create(tid, "agent", input=user("what is 1+1"), multitask_strategy="enqueue")
        bobs_tid = (await bob.threads.create())["thread_id"]
        bobs = await bob.runs.create(bobs_tid, "agent", input=probe_request(("bobs", 60)))
        await wait_for_probe(pool, bobs_tid, "bobs")

        await alice.runs.cancel_many(status="pending")

        assert (await alice.runs.get(tid, queued["run_id"]))["status"] == "interrupted"
        assert (await alice.runs.get(tid, first["run_id"]))["status"] == "running"
        await alice.runs.cancel_many(status="running")
        assert await wait_for_status(alice, tid, first["run_id"], {"interrupted", "success"}) == "interrupted"
        assert (await bob.runs.get(bobs_tid, bobs["run_id"]))["status"] == "running"  # not alice's to cancel
        with pytest.raises(NotFoundError):  # nothing of alice's is in flight any more
            await alice.runs.cancel_many(status="all")
        await bob.runs.cancel(bobs_tid, bobs["run_id"], wait=True)


async def test_updating_the_state_of_a_thread_that_never_ran_needs_no_graph_id(alice):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]

        answer = await alice.threads.update_state(tid, {"messages": [{"role": "user", "content": "hi"}]})

        assert answer["checkpoint"]["thread_id"] == tid
        state = await alice.threads.get_state(tid)
        assert state["values"]["messages"][0]["content"] == "hi"


async def test_joining_a_thread_stream_follows_its_run_in_flight_to_the_end(alice, pool):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        run = await alice.runs.create(tid, "agent", input=probe_request(("followed", 0.5)))
        await wait_for_probe(pool, tid, "followed")
        parts: list = []

        async for part in await alice.threads.join_stream(tid):
            parts.append(part)
            if part.event == "metadata" and part.data.get("status") == "run_done":
                break

        assert parts[-1].data == {"status": "run_done", "run_id": run["run_id"]}
        assert "values" in [p.event for p in parts]
        assert (await alice.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_updating_a_fresh_thread_as_a_node_that_needs_more_state_is_a_400_naming_the_key(alice):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]

        with pytest.raises(BadRequestError, match="'plan'"):
            await alice.threads.update_state(tid, {"messages": [{"role": "user", "content": "hi"}]}, as_node="plan")

        assert (await alice.threads.get_state(tid))["values"] == {}


async def test_prune_keep_latest_leaves_one_checkpoint_and_the_same_state(alice):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create())["thread_id"]
        await alice.runs.wait(tid, "agent", input=user("what is 6*7"))
        before = await alice.threads.get_state(tid)
        assert len(await alice.threads.get_history(tid, limit=50)) > 1

        assert await alice.threads.prune([tid], strategy="keep_latest") == {"pruned_count": 1}

        history = await alice.threads.get_history(tid, limit=50)
        assert [h["checkpoint_id"] for h in history] == [before["checkpoint_id"]]
        assert (await alice.threads.get_state(tid))["values"] == before["values"]


async def test_prune_delete_removes_the_callers_threads_and_counts_only_those(alice, bob):
    async with asyncio.timeout(BOUND_S):
        mine = (await alice.threads.create())["thread_id"]
        theirs = (await bob.threads.create())["thread_id"]

        assert await alice.threads.prune([mine, theirs]) == {"pruned_count": 1}

        with pytest.raises(NotFoundError):
            await alice.threads.get(mine)
        assert (await bob.threads.get(theirs))["thread_id"] == theirs


async def test_a_run_streamed_and_cancelled_through_the_api_only_replica_settles_promptly(replicas):  # noqa: F811
    executing, api_only, _, dsn = replicas
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(PROBE_TABLE)
    via_b = get_client(url=api_only, api_key=KEYS["alice"])
    async with asyncio.timeout(BOUND_S):
        tid = (await via_b.threads.create())["thread_id"]
        parts = via_b.runs.stream(tid, "agent", input=probe_request(("elsewhere", 60)), stream_mode="updates")
        run_id = None
        async for part in parts:
            if part.event == "metadata":
                run_id = part.data["run_id"]
            elif part.event == "updates" and "plan" in part.data:
                break  # execute (the 60 s probe) is next: the run is running on the other replica
        await parts.aclose()  # type: ignore[attr-defined]
        assert run_id is not None

        await via_b.runs.cancel(tid, run_id)

        async with asyncio.timeout(5):
            status = await wait_for_status(via_b, tid, run_id, {"interrupted", "success", "error"})
        assert status == "interrupted"
        via_a = get_client(url=executing, api_key=KEYS["alice"])
        assert (await via_a.runs.get(tid, run_id))["status"] == "interrupted"


async def test_updating_the_state_of_a_thread_for_a_graph_not_served_is_a_400_naming_it(alice):
    async with asyncio.timeout(BOUND_S):
        tid = (await alice.threads.create(metadata={"graph_id": "elsewhere"}))["thread_id"]

        with pytest.raises(BadRequestError, match="'elsewhere'.*serves agent"):
            await alice.threads.update_state(tid, {"messages": [{"role": "user", "content": "hi"}]})
