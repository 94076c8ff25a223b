"""Independent plan steps run at the same time, through the SDK: their results come back in plan order,
and steps needing a reviewer still pause one at a time."""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import outbox_count, user


async def test_two_independent_steps_run_as_parallel_tasks_and_answer_in_plan_order(alice):
    tid = (await alice.threads.create())["thread_id"]
    parts = [
        p
        async for p in alice.runs.stream(
            tid, "agent", input=user("what is (2+3)*4 and what time is it in Tokyo?"), stream_mode="updates"
        )
    ]
    nodes = [node for p in parts if p.event == "updates" for node in p.data]

    assert nodes.count("run_step") == 2 and "execute" not in nodes, nodes
    assert nodes.index("gather") > max(i for i, n in enumerate(nodes) if n == "run_step")
    state = (await alice.threads.get_state(tid))["values"]
    assert [o["tool"] for o in state["observations"]] == ["calculator", "get_time"]
    assert [o["step"] for o in state["observations"]] == [0, 1] and state["steps"] == 2
    assert "20" in state["final_answer"] and "Tokyo" in state["final_answer"]


async def test_a_run_may_ask_for_one_step_at_a_time(alice):
    tid = (await alice.threads.create())["thread_id"]
    parts = [
        p
        async for p in alice.runs.stream(
            tid,
            "agent",
            input=user("what is (2+3)*4 and what time is it in Tokyo?"),
            context={"max_parallel_steps": 1},
            stream_mode="updates",
        )
    ]
    nodes = [node for p in parts if p.event == "updates" for node in p.data]
    assert "run_step" not in nodes and nodes.count("execute") == 2


async def test_steps_that_need_a_reviewer_pause_one_at_a_time(alice, base_url, pool):
    emails = [{"to": f"{name}@example.com", "subject": "hi", "body": "hello"} for name in ("ann", "ben")]
    ask = " then ".join(f"call send_email with {json.dumps(e)}" for e in emails)
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(ask))

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        first = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
        assert [a["args"]["to"] for a in first] == ["ann@example.com"], "one approval at a time"
        assert (
            await http.post(f"/approvals/{first[0]['approval_id']}", json={"decision": "approve"})
        ).status_code == 200
        await alice.runs.join(tid, (await alice.runs.list(tid, limit=1))[0]["run_id"])
        second = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()

    assert [a["args"]["to"] for a in second] == ["ben@example.com"]
    assert await outbox_count(pool, tid) == 1, "approving one call ran that call only"
