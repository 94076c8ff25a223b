"""Request limits are enforced before any work is done, with a detail that names the limit and its setting;
error responses (4xx and 503) leave the client's keep-alive connection usable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import Request

from handrail.api.deps import get_services
from handrail.db import make_pool
from handrail.services import Services
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import user
from tests.support.http import serving

ALICE = {"x-api-key": KEYS["alice"]}
JSON = {"content-type": "application/json"}
MB = 1_048_576


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers=ALICE, timeout=30) as client:
        yield client


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/threads", json={})
    assert response.status_code == 200, response.text
    return str(response.json()["thread_id"])


async def run_count(pool: Any, thread_id: str) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM runs WHERE thread_id = %s", (thread_id,))).fetchone()
    return int(row["n"])


def detail(response: httpx.Response) -> str:
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    return str(body["detail"])


async def test_a_20_mb_body_is_refused_with_413_from_its_content_length(http: httpx.AsyncClient) -> None:
    response = await http.post("/runs", content=b" " * (20 * MB), headers=JSON)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in detail(response) and str(MB) in detail(response)


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20 * 16):  # 20 MB in 64 KiB chunks, no Content-Length: chunked transfer encoding
            yield b" " * 65_536

    response = await http.post("/runs", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in detail(response)


async def test_the_server_answers_others_while_it_refuses_a_20_mb_body(base_url: str) -> None:
    ok_answered = asyncio.Event()

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(2 * 16):  # 2 MB: past the limit, and the upload is still going on
            yield b" " * 65_536
        await ok_answered.wait()
        for _ in range(18 * 16):
            yield b" " * 65_536

    async with httpx.AsyncClient(base_url=base_url, headers=ALICE, timeout=30) as uploader:
        refused = asyncio.create_task(uploader.post("/runs", content=upload(), headers=JSON))
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as other:
            assert (await other.get("/ok")).status_code == 200
        ok_answered.set()
        response = await refused
    assert response.status_code == 413


async def test_a_2_mb_message_is_refused_and_no_run_is_created(http: httpx.AsyncClient, pool: Any) -> None:
    tid = await new_thread(http)
    body = {"assistant_id": "agent", "input": user("refund policy " + "a" * 2_000_000)}
    response = await http.post(f"/threads/{tid}/runs", json=body)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in detail(response)
    assert await run_count(pool, tid) == 0


async def test_a_message_over_max_message_chars_is_refused_and_no_run_is_created(
    http: httpx.AsyncClient, pool: Any
) -> None:
    tid = await new_thread(http)
    for body in (
        {"assistant_id": "agent", "input": user("refund policy " + "a" * 40_000)},
        {"assistant_id": "agent", "command": {"update": user("a" * 40_000)}},
        {
            "assistant_id": "agent",
            "input": {"messages": [{"role": "user", "content": [{"type": "text", "text": "a" * 40_000}]}]},
        },
    ):
        response = await http.post(f"/threads/{tid}/runs", json=body)
        assert response.status_code == 422, response.text
        assert "MAX_MESSAGE_CHARS" in detail(response) and "32000" in detail(response)
    assert await run_count(pool, tid) == 0


async def test_too_many_messages_are_refused(http: httpx.AsyncClient, pool: Any) -> None:
    tid = await new_thread(http)
    messages = [{"role": "user", "content": f"message {i}"} for i in range(101)]
    response = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "input": {"messages": messages}})
    assert response.status_code == 422
    assert "MAX_INPUT_MESSAGES" in detail(response) and "101" in detail(response)
    assert await run_count(pool, tid) == 0


@pytest.mark.parametrize("message", [5, None, {"role": "user"}, {"role": "wizard", "content": "hi"}, ["user"]])
async def test_something_that_is_not_a_message_is_refused_before_a_run_is_queued(
    http: httpx.AsyncClient, pool: Any, message: Any
) -> None:
    tid = await new_thread(http)
    response = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "input": {"messages": [message]}})
    assert response.status_code == 422, response.text
    assert "input.messages[0] is not a message" in detail(response)
    assert await run_count(pool, tid) == 0


async def test_a_state_update_with_an_oversized_message_is_refused(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    response = await http.post(f"/threads/{tid}/state", json={"values": user("a" * 40_000)})
    assert response.status_code == 422
    assert "MAX_MESSAGE_CHARS" in detail(response)
    assert (await http.get(f"/threads/{tid}/state")).json()["values"] == {}


async def test_a_batch_over_the_limit_is_refused_and_queues_nothing(http: httpx.AsyncClient, pool: Any) -> None:
    # Runs created since the request started, not a count of all runs: other tests' stateless threads (and
    # their runs) are deleted in the background while this one runs.
    async with pool.connection() as conn:
        since = (await (await conn.execute("SELECT clock_timestamp() AS t")).fetchone())["t"]
    response = await http.post("/runs/batch", json=[{"assistant_id": "agent", "input": None}] * 101)
    assert response.status_code == 422
    assert "MAX_BATCH_RUNS" in detail(response) and "100" in detail(response)
    async with pool.connection() as conn:
        made = await (await conn.execute("SELECT count(*) AS n FROM runs WHERE created_at >= %s", (since,))).fetchone()
    assert made["n"] == 0


async def test_deeply_nested_json_is_refused(http: httpx.AsyncClient) -> None:
    deep = "[" * 500 + "]" * 500
    for method, path, body in (
        ("POST", "/threads", f'{{"metadata": {{"a": {deep}}}}}'),
        ("POST", "/runs", f'{{"assistant_id": "agent", "input": {{"messages": {deep}}}}}'),
        ("PUT", "/store/items", f'{{"namespace": ["n"], "key": "k", "value": {{"a": {deep}}}}}'),
    ):
        response = await http.request(method, path, content=body.encode(), headers=JSON)
        assert response.status_code == 422, (path, response.text)
        assert "MAX_JSON_DEPTH" in detail(response) and "32" in detail(response)


async def test_json_within_the_depth_limit_is_accepted(http: httpx.AsyncClient) -> None:
    nested: Any = "leaf"
    for _ in range(30):  # metadata is the second level, so this reaches depth 31
        nested = {"n": nested}
    response = await http.post("/threads", json={"metadata": nested})
    assert response.status_code == 200, response.text


async def test_nul_characters_are_refused_in_bodies_queries_and_paths(http: httpx.AsyncClient) -> None:
    for response in (
        await http.post("/threads", json={"metadata": {"note": "a\u0000b"}}),
        await http.post("/assistants", json={"graph_id": "agent", "metadata": {"k\u0000": 1}}),
        await http.post("/threads/search", json={"metadata": {"note": "\u0000"}}),
        await http.get("/approvals", params={"thread_id": "a\u0000b"}),
        await http.get("/threads/abc%00def"),
    ):
        assert response.status_code == 422, response.text
        assert "NUL characters are not allowed" in detail(response)
    # An escaped backslash followed by "u0000" is text, not a NUL.
    response = await http.post("/threads", content=json.dumps({"metadata": {"path": "C:\\u0000"}}), headers=JSON)
    assert response.status_code == 200, response.text


async def test_numbers_postgres_and_checkpoints_cannot_hold_are_refused(http: httpx.AsyncClient) -> None:
    for body in ('{"metadata": {"a": 1e400}}', '{"metadata": {"a": NaN}}', '{"metadata": {"a": 99999999999999999999}}'):
        response = await http.post("/threads", content=body.encode(), headers=JSON)
        assert response.status_code == 422, (body, response.text)
    response = await http.post("/store/items/search", json={"filter": {"n": 2**64}})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/approvals", {"limit": -1}),
        ("GET", "/approvals", {"offset": -1}),
        ("GET", "/approvals", {"offset": 10**19}),
        ("GET", "/threads/{tid}/runs", {"limit": -1}),
        ("GET", "/threads/{tid}/runs", {"offset": -1}),
        ("GET", "/threads/{tid}/runs", {"limit": 10**19}),
        ("GET", "/threads/{tid}/history", {"limit": -1}),
        ("GET", "/threads/{tid}/history", {"limit": 10**19}),
    ],
)
async def test_paging_parameters_out_of_range_are_422(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, int]
) -> None:
    tid = await new_thread(http)
    response = await http.request(method, path.format(tid=tid), params=params)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads/search", {"offset": 10**19}),
        ("/threads/search", {"limit": 0}),
        ("/assistants/search", {"offset": 10**19}),
        ("/store/items/search", {"offset": 10**19}),
        ("/store/namespaces", {"offset": 10**19}),
        ("/store/namespaces", {"max_depth": 10**13}),
        ("/threads/{tid}/history", {"limit": -1}),
    ],
)
async def test_paging_fields_out_of_range_are_422(http: httpx.AsyncClient, path: str, body: dict[str, int]) -> None:
    tid = await new_thread(http)
    response = await http.post(path.format(tid=tid), json=body)
    assert response.status_code == 422, response.text


async def test_a_thread_id_that_is_not_a_uuid_is_422_naming_the_field(http: httpx.AsyncClient) -> None:
    response = await http.post("/threads", json={"thread_id": "not-a-uuid"})
    assert response.status_code == 422
    assert "thread_id" in detail(response)
    response = await http.post("/threads/not-a-uuid/runs", json={"assistant_id": "agent", "if_not_exists": "create"})
    assert response.status_code == 422
    assert "thread_id" in detail(response)


async def test_after_seconds_is_bounded(http: httpx.AsyncClient, pool: Any) -> None:
    tid = await new_thread(http)
    response = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "agent", "after_seconds": 1e300})
    assert response.status_code == 422
    assert "after_seconds" in detail(response)
    assert await run_count(pool, tid) == 0


async def test_state_updates_the_graph_cannot_apply_are_422(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    for body in (
        {"values": {"messages": []}, "as_node": "no-such-node"},
        {"values": []},
        {"values": [[]]},
        {"values": {"messages": [["not", "a", "message"]]}},
        {"values": {"messages": [{"no_role": True}]}},
    ):
        response = await http.post(f"/threads/{tid}/state", json=body)
        assert response.status_code == 422, (body, response.text)


async def test_values_the_service_cannot_use_are_422_before_anything_is_stored(http: httpx.AsyncClient) -> None:
    tid = await new_thread(http)
    for method, path, body in (
        ("POST", f"/threads/{tid}/runs", {"assistant_id": "agent", "config": {"configurable": 5}}),
        ("POST", "/runs", {"assistant_id": "agent", "checkpoint": {"checkpoint_id": 5}}),
        ("POST", "/assistants", {"graph_id": "agent", "config": {"configurable": [1]}}),
        ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {"a": 1}, "ttl": 1e300}),
        ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {"a": 1}, "ttl": 2.5e-142}),
        ("POST", f"/threads/{tid}/history", {"before": {"checkpoint_id": 5}}),
    ):
        response = await http.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)


async def test_the_connection_survives_an_error_response(http: httpx.AsyncClient) -> None:
    refused = await http.get("/approvals", params={"offset": -1})
    assert refused.status_code == 422
    after = await http.get("/ok")
    assert after.status_code == 200
    assert after.extensions["network_stream"] is refused.extensions["network_stream"]


async def test_a_database_outage_is_503_with_retry_after_and_the_connection_survives(database_url: str) -> None:
    never_opened = make_pool(database_url, min_size=0, max_size=1)  # every checkout fails: the pool is closed

    def services_without_a_database(request: Request) -> Services:
        return replace(request.app.state.services, pool=never_opened)

    settings = e2e_settings(database_url, workers=0)
    app = create_app(settings)
    app.dependency_overrides[get_services] = services_without_a_database
    async with serving(app, port=settings.port) as url, httpx.AsyncClient(base_url=url, headers=ALICE) as http:
        response = await http.post("/threads/search", json={})
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
        assert "Postgres" in detail(response)
        after = await http.get("/ok")
        assert after.status_code == 200
        assert after.extensions["network_stream"] is response.extensions["network_stream"]
