"""The API the approval console uses, as any client would: the live feed of approval changes (scoped as GET /approvals
is), the tools with their argument schemas, and a thread's timeline."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from handrail import approval_feed
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import EMAIL_REQUEST, user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.servers import redis_url
from tests.support.waiting import eventually


@asynccontextmanager
async def feed(base_url: str, who: str) -> AsyncIterator[list[tuple[str, Any]]]:
    """The events of GET /approvals/stream as `who`, collected while the block runs; entered once subscribed."""
    events: list[tuple[str, Any]] = []

    async def read() -> None:
        async with (
            httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS[who]}, timeout=None) as http,
            http.stream("GET", "/approvals/stream") as response,
        ):
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))

    task = asyncio.create_task(read())
    try:
        await eventually(_subscribed(events, task), within_s=10)
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _subscribed(events: list[tuple[str, Any]], task: asyncio.Task[None]) -> Any:
    async def check() -> bool:
        if task.done():
            task.result()
        return any(e == "metadata" for e, _ in events)

    return check


def changes(events: list[tuple[str, Any]], approval_id: str) -> list[str]:
    return [d["change"] for e, d in events if e == "approval" and d["approval"]["approval_id"] == approval_id]


async def test_the_feed_sends_an_approval_when_created_and_when_decided_to_its_owner_and_admins_only(alice, base_url):
    async with feed(base_url, "alice") as alices, feed(base_url, "bob") as bobs, feed(base_url, "admin") as admins:
        tid = (await alice.threads.create())["thread_id"]
        await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))
        async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
            (approval,) = (await http.get("/approvals", params={"thread_id": tid})).json()
            aid = approval["approval_id"]

            async def created() -> bool:
                return changes(alices, aid) == ["created"] and changes(admins, aid) == ["created"]

            await eventually(created, within_s=5)
            await http.post(f"/approvals/{aid}", json={"decision": "reject", "feedback": "no"})

        async def decided() -> bool:
            return changes(alices, aid) == ["created", "decided"] and changes(admins, aid) == ["created", "decided"]

        await eventually(decided, within_s=5)
        last = [d for e, d in alices if e == "approval"][-1]["approval"]
        assert last["status"] == "rejected" and last["decided_by"] == "alice"
        assert changes(bobs, aid) == [], "bob's feed carries nothing of alice's"


async def test_tools_list_their_argument_schemas(base_url):
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["bob"]}) as http:
        listed = (await http.get("/tools")).json()
        email = (await http.get("/tools/send_email")).json()
        missing = await http.get("/tools/no_such_tool")

    assert "send_email" in {t["name"] for t in listed}
    assert email["requires_approval"] is True and email["risk"] == "dangerous"
    assert email["args_schema"]["properties"]["to"]["pattern"] and "to" in email["args_schema"]["required"]
    assert missing.status_code == 404 and "GET /tools" in missing.json()["detail"]


async def test_a_thread_timeline_names_who_decided_and_hides_other_users_threads(alice, base_url):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        (approval,) = (await http.get("/approvals", params={"thread_id": tid})).json()
        decided = (await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})).json()
    await alice.runs.join(tid, decided["run"]["run_id"])

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["admin"]}) as http:
        timeline = (await http.get(f"/threads/{tid}/timeline")).json()
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["bob"]}) as http:
        hidden = await http.get(f"/threads/{tid}/timeline")

    first, second = timeline["runs"]
    assert first["paused"] is True and second["resumes_approval"] == approval["approval_id"]
    assert [n["node"] for n in first["nodes"]][0] == "plan" and first["nodes"][-1] == {
        "node": "approve",
        "step": first["nodes"][-1]["step"],
        "latency_ms": None,
        "paused": True,
    }
    assert [n["node"] for n in second["nodes"]][:2] == ["approve", "execute"] and "synthesize" in str(second["nodes"])
    assert all(n["latency_ms"] is not None for n in second["nodes"][1:])
    assert any(s["kind"] == "tool" and s["name"] == "send_email" and s["ok"] for s in second["steps"])
    decided_events = [e for e in first["events"] if e["kind"] == "approval_decided"]
    assert decided_events and decided_events[0]["actor"] == "alice" and decided_events[0]["outcome"] == "approved"
    assert [a["decided_by"] for a in timeline["approvals"]] == ["alice"]
    assert hidden.status_code == 404


async def test_a_trace_link_a_client_wrote_into_run_metadata_is_not_shown(alice, base_url):
    tid = (await alice.threads.create())["thread_id"]
    spoofed = {"langfuse_trace_url": "javascript:alert(document.domain)", "langfuse_trace_id": "t-1"}
    await alice.runs.wait(tid, "agent", input=user("what is 2 + 2?"), metadata=spoofed)
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        (run,) = (await http.get(f"/threads/{tid}/timeline")).json()["runs"]

    assert run["trace_url"] is None, "no Langfuse is configured here, whatever the metadata says"


async def test_a_new_thread_has_an_empty_timeline(alice, base_url):
    tid = (await alice.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        timeline = (await http.get(f"/threads/{tid}/timeline")).json()

    assert timeline["runs"] == [] and timeline["approvals"] == [] and timeline["status"] == "idle"


@pytest.fixture(scope="module", params=["redis", "postgres"])
async def replicas(request: Any) -> AsyncIterator[tuple[str, str]]:
    """(a replica that executes runs, one that only answers the API) on one fresh database and one bus; approvals
    expire after 1.5 s."""
    bus = {"redis_url": redis_url(), "redis_prefix": f"handrail-feed-{uuid.uuid4().hex[:8]}:"}
    with fresh_database("handrail_feed") as dsn:
        async with AsyncExitStack() as stack:
            for_bus = bus if request.param == "redis" else {}
            executing = e2e_settings(dsn, workers=2, approval_ttl_s=1.5, **for_bus)
            answering = e2e_settings(dsn, workers=0, approval_ttl_s=1.5, **for_bus)
            a = await stack.enter_async_context(serving(create_app(executing), port=executing.port))
            b = await stack.enter_async_context(serving(create_app(answering), port=answering.port))
            yield a, b


async def test_another_replicas_approvals_reach_the_feed_by_the_bus_created_and_expired(replicas, monkeypatch):
    executing, answering = replicas
    monkeypatch.setattr(approval_feed, "POLL_S", 60.0)  # no re-read in time: only a nudge over the bus can do it
    async with feed(answering, "alice") as events:
        client = get_client(url=executing, api_key=KEYS["alice"])
        tid = (await client.threads.create())["thread_id"]
        await client.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))
        (approval,) = await client.http.get("/approvals", params={"thread_id": tid})

        async def expired() -> bool:
            return changes(events, approval["approval_id"]) == ["created", "decided"]

        await eventually(expired, within_s=15)
    last = [d for e, d in events if e == "approval"][-1]["approval"]
    assert last["status"] == "expired" and last["decided_by"]
