"""GET /metrics: the series move as runs succeed, fail, call tools, pause for approval and are taken over.

The e2e server is shared by every test of the session, so each test compares scrapes before and after
what it does."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import EMAIL_REQUEST, probe_request, user, wait_for_probe
from tests.support.waiting import eventually

QUESTION = "what is (2+3)*4 and what time is it in Tokyo?"


async def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_a_successful_run_counts_its_outcome_steps_tools_tokens_and_requests(alice, base_url):
    before = await scrape(base_url)
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(QUESTION))
    after = await scrape(base_url)

    assert moved(before, after, "handrail_runs_total", outcome="success") == 1
    assert moved(before, after, "handrail_run_duration_seconds_count", outcome="success") == 1
    assert moved(before, after, "handrail_run_steps_count") == 1
    assert moved(before, after, "handrail_run_steps_sum") >= 5  # plan, execute twice, reflect, synthesize
    for tool in ("calculator", "get_time"):
        assert moved(before, after, "handrail_tool_calls_total", tool=tool, status="ok") == 1
        assert moved(before, after, "handrail_tool_call_duration_seconds_count", tool=tool) == 1
    model = "handrail-offline-1"
    assert moved(before, after, "handrail_tokens_total", model=model, direction="input") > 0
    assert moved(before, after, "handrail_tokens_total", model=model, direction="output") > 0
    assert moved(before, after, "handrail_successful_run_cost_usd_count") == 1
    # Route templates, never ids.
    wait_route = "/threads/{thread_id}/runs/wait"
    assert moved(before, after, "handrail_http_requests_total", method="POST", route=wait_route, status="200") == 1
    assert moved(before, after, "handrail_http_requests_total", method="POST", route="/threads", status="200") == 1
    assert not any(tid in str(key) for key in after), "a thread id became a label"


async def test_failed_runs_and_failed_tool_calls_are_counted_as_such(alice, base_url):
    before = await scrape(base_url)
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 1/0"))  # the calculator refuses: the run goes on
    failing = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(failing, "agent", input=user(QUESTION), config={"recursion_limit": 2}, raise_error=False)
    after = await scrape(base_url)

    assert moved(before, after, "handrail_tool_calls_total", tool="calculator", status="error") == 1
    assert (await alice.runs.list(failing))[0]["status"] == "error"
    assert moved(before, after, "handrail_runs_total", outcome="error") == 1
    assert moved(before, after, "handrail_runs_total", outcome="success") == 1
    assert moved(before, after, "handrail_successful_run_cost_usd_count") == 1, "only successful runs"


async def test_approvals_pending_and_their_wait_are_reported(alice, base_url):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))  # pauses for approval
    paused = await scrape(base_url)
    assert value(paused, "handrail_approvals_pending") >= 1
    assert value(paused, "handrail_approval_oldest_age_seconds") >= 0

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        pending = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
        answer = await http.post(f"/approvals/{pending[0]['approval_id']}", json={"decision": "reject"})
    assert answer.status_code == 200, answer.text
    decided = await scrape(base_url)
    assert moved(paused, decided, "handrail_approval_wait_seconds_count", decision="rejected") == 1
    assert value(decided, "handrail_approvals_pending") == value(paused, "handrail_approvals_pending") - 1


async def test_the_queue_depth_counts_runs_waiting_behind_a_running_one(alice, base_url, pool):
    tid = (await alice.threads.create())["thread_id"]
    first = await alice.runs.create(tid, "agent", input=probe_request(("hold", 1.0)))
    await wait_for_probe(pool, tid, "hold")
    second = await alice.runs.create(tid, "agent", input=probe_request(("then", 0)))

    during = await scrape(base_url)
    assert value(during, "handrail_queue_depth") >= 1
    assert value(during, "handrail_queue_oldest_age_seconds") > 0
    assert value(during, "handrail_runs_running") >= 1
    await alice.runs.join(tid, second["run_id"])
    assert (await alice.runs.get(tid, first["run_id"]))["status"] == "success"


async def test_a_run_whose_worker_died_is_counted_when_it_is_taken_over(alice, base_url, pool):
    before = await scrape(base_url)
    tid = (await alice.threads.create())["thread_id"]
    # Due in an hour: once requeued it stays queued, so nothing else happens to it during the test.
    run = await alice.runs.create(tid, "agent", input=user("what is 2+2"), after_seconds=3600)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE runs SET status = 'running', worker_id = 'gone:1', heartbeat_at = now() - interval '1 hour' "
            "WHERE run_id = %s",
            (run["run_id"],),
        )

    async def requeued() -> bool:
        return (await alice.runs.get(tid, run["run_id"]))["status"] == "pending"

    await eventually(requeued)
    after = await scrape(base_url)
    assert moved(before, after, "handrail_runs_taken_over_total", result="requeued") == 1
    await alice.runs.cancel(tid, run["run_id"])


async def test_a_finished_run_returns_the_summary_of_what_it_did_and_cost(alice):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(QUESTION))
    failing = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(failing, "agent", input=user("what is 1/0"))

    run = (await alice.runs.list(tid))[0]
    summary = (await alice.runs.get(tid, run["run_id"]))["summary"]
    assert summary["outcome"] == "success" and summary["thread_id"] == tid and summary["user_id"] == "alice"
    assert summary["models"] == ["handrail-offline-1"]
    calls = [s for s in summary["steps"] if s["kind"] == "llm"]
    tools = [s for s in summary["steps"] if s["kind"] == "tool"]
    assert {s["node"] for s in calls} >= {"plan", "synthesize"}
    assert sorted((t["name"], t["ok"], t["node"]) for t in tools) == [
        ("calculator", True, "execute"),
        ("get_time", True, "execute"),
    ]
    assert summary["tokens_in"] == sum(s["tokens_in"] for s in calls) > 0
    assert summary["tokens_out"] == sum(s["tokens_out"] for s in calls) > 0
    assert summary["cost_usd"] == 0, "the offline model has no price"
    assert 0 < summary["duration_ms"]["agent"] <= summary["duration_ms"]["wall"]
    assert summary["supersteps"] >= 5

    other = (await alice.runs.list(failing))[0]
    failed_tools = [
        s for s in (await alice.runs.get(failing, other["run_id"]))["summary"]["steps"] if s["kind"] == "tool"
    ]
    assert [(t["name"], t["ok"]) for t in failed_tools] == [("calculator", False)]
