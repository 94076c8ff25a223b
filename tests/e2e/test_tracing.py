"""Langfuse traces, decoded from the OTLP protobuf the SDK posts to a local stand-in for the host.

Each test serves its own app (its own Langfuse public key: the SDK keeps one client per key) on its
own database: on the session's shared one, the untraced session server's workers could take a run."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from handrail.logs import JsonFormatter
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import EMAIL_REQUEST, user
from tests.support.db import fresh_database
from tests.support.http import free_port, serving
from tests.support.langfuse_receiver import LangfuseHost, Span, langfuse_host

QUESTION = "what is (2+3)*4 and what time is it in Tokyo?"


@pytest.fixture
def own_database() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


@asynccontextmanager
async def traced_app(database_url: str, host_url: str) -> AsyncIterator[tuple[Any, str]]:
    settings = e2e_settings(
        database_url,
        langfuse_public_key=f"pk-test-{uuid.uuid4().hex[:8]}",
        langfuse_secret_key="sk-test",
        langfuse_base_url=host_url,
    )
    app = create_app(settings)
    async with serving(app, port=settings.port) as url:
        yield app, url


async def exported(app: Any, host: LangfuseHost, trace_id: str) -> list[Span]:
    await app.state.services.tracer.flush()
    return [s for s in host.spans() if s.trace_id == trace_id]


async def test_a_run_exports_a_span_per_node_tool_and_model_call_under_one_root(own_database):
    async with langfuse_host() as host, traced_app(own_database, host.url) as (app, url):
        alice = get_client(url=url, api_key=KEYS["alice"])
        tid = (await alice.threads.create())["thread_id"]
        await alice.runs.wait(tid, "agent", input=user(QUESTION))
        run = (await alice.runs.list(tid))[0]
        trace_id = run["metadata"]["langfuse_trace_id"]
        assert run["metadata"]["langfuse_trace_url"] == f"{host.url}/trace/{trace_id}"
        spans = await exported(app, host, trace_id)

    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id not in by_id]
    assert len(roots) == 1 and roots[0].attributes["user.id"] == "alice"
    assert roots[0].attributes["session.id"] == tid
    nodes = [s.name for s in spans if by_id.get(s.parent_id) is roots[0]]
    # The two steps are independent: they run at once, each in its own run_step task, then gather.
    assert {"plan", "run_step", "gather", "reflect", "synthesize"} <= set(nodes)
    assert nodes.count("run_step") == 2
    tools = [s for s in spans if s.attributes.get("langfuse.observation.type") == "tool"]
    assert sorted(t.name for t in tools) == ["calculator", "get_time"]
    assert all(by_id[t.parent_id].name == "run_step" for t in tools), "a tool call is a child of its node"
    generations = [s for s in spans if s.attributes.get("langfuse.observation.type") == "generation"]
    assert generations and all(
        g.attributes["langfuse.observation.model.name"] == "handrail-offline-1" for g in generations
    )
    assert all(json.loads(g.attributes["langfuse.observation.usage_details"])["input"] > 0 for g in generations)
    assert {(s["name"], s["value"]) for s in host.scores() if s["traceId"] == trace_id} == {("task_completed", 1.0)}


async def test_a_turn_paused_for_approval_and_resumed_by_another_app_is_one_trace(own_database):
    async with langfuse_host() as host:
        async with traced_app(own_database, host.url) as (first, url):
            alice = get_client(url=url, api_key=KEYS["alice"])
            tid = (await alice.threads.create())["thread_id"]
            await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))  # pauses for approval
            paused = (await alice.runs.list(tid))[0]
            await first.state.services.tracer.flush()
        # A restart: another app (its own Services, Langfuse client and worker) resumes the thread.
        async with traced_app(own_database, host.url) as (second, url):
            async with httpx.AsyncClient(base_url=url, headers={"x-api-key": KEYS["alice"]}) as http:
                pending = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
                decided = await http.post(f"/approvals/{pending[0]['approval_id']}", json={"decision": "approve"})
            assert decided.status_code == 200, decided.text
            alice = get_client(url=url, api_key=KEYS["alice"])
            resumed = (await alice.runs.list(tid))[0]
            await alice.runs.join(tid, resumed["run_id"])
            trace_id = paused["metadata"]["langfuse_trace_id"]
            assert resumed["run_id"] != paused["run_id"]
            assert resumed["metadata"]["langfuse_trace_id"] == trace_id
            spans = await exported(second, host, trace_id)

    names = [s.name for s in spans]
    assert names.count("agent") == 2, "one root per run, both in the turn's trace"
    assert "approve" in names and "approval" in names and "send_email" in names
    approval = next(s for s in spans if s.name == "approval")
    assert "approved" in str(approval.attributes) and "alice" in str(approval.attributes)
    scores = {(s["name"], s["value"]) for s in host.scores() if s["traceId"] == trace_id}
    assert scores == {("approval", "approved"), ("task_completed", 1.0)}, "the paused run scores nothing"


async def test_log_lines_of_a_traced_run_carry_its_trace_id(own_database):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))  # now: the trace id is bound to the run's task

    keep = Keep(level=logging.INFO)
    logging.getLogger("handrail").addHandler(keep)
    logging.getLogger("handrail").setLevel(logging.INFO)
    try:
        async with langfuse_host() as host, traced_app(own_database, host.url) as (_app, url):
            alice = get_client(url=url, api_key=KEYS["alice"])
            tid = (await alice.threads.create())["thread_id"]
            await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
            trace_id = (await alice.runs.list(tid))[0]["metadata"]["langfuse_trace_id"]
    finally:
        logging.getLogger("handrail").removeHandler(keep)
    finished = [json.loads(x) for x in lines if '"run.finished"' in x and tid in x]
    assert finished and finished[0]["trace_id"] == trace_id


async def test_tracing_to_a_dead_host_fails_nothing(own_database):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with traced_app(own_database, dead) as (app, url):
        alice = get_client(url=url, api_key=KEYS["alice"])
        tid = (await alice.threads.create())["thread_id"]
        result = await alice.runs.wait(tid, "agent", input=user(QUESTION))
        assert "20" in result["final_answer"]
        assert (await alice.runs.list(tid))[0]["status"] == "success"


async def test_without_keys_no_client_exists_and_runs_carry_no_trace(alice):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 2+2"))
    assert not any(k.startswith("langfuse") for k in (await alice.runs.list(tid))[0]["metadata"])
