"""The keys the SDK and Studio see, exactly: response models must not add a key the LangGraph server leaves out
(a new thread's `interrupts`, a copy's `values`, the keys `select` did not name) nor change how times are written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import user

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
THREAD_KEYS = {"thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config", "status"}


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}, timeout=60) as client:
        yield client


async def test_a_new_thread_has_null_values_and_no_interrupts_or_error_keys(http: httpx.AsyncClient) -> None:
    created = (await http.post("/threads", json={"metadata": {"shape": "new"}})).json()
    fetched = (await http.get(f"/threads/{created['thread_id']}")).json()

    for thread in (created, fetched):
        assert set(thread) == THREAD_KEYS | {"values"}
        assert thread["values"] is None
        assert ISO_WITH_OFFSET.match(thread["created_at"]), thread["created_at"]


async def test_after_a_run_the_thread_has_interrupts_and_error_and_the_run_its_summary(
    http: httpx.AsyncClient,
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "input": user("what is 2+2?")})

    thread = (await http.get(f"/threads/{tid}")).json()
    (run,) = (await http.get(f"/threads/{tid}/runs")).json()

    assert set(thread) == THREAD_KEYS | {"values", "interrupts"}  # error: null is not stored, so absent
    assert thread["interrupts"] == {}
    assert run["status"] == "success" and "summary" in run
    assert ISO_WITH_OFFSET.match(run["updated_at"]), run["updated_at"]


async def test_a_queued_run_has_no_summary_key(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    body = {"assistant_id": "agent", "input": user("hi"), "after_seconds": 60}
    run = (await http.post(f"/threads/{tid}/runs", json=body)).json()

    assert run["status"] == "pending" and "summary" not in run
    await http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel")


async def test_a_copied_thread_answers_without_a_values_key(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]

    copy = (await http.post(f"/threads/{tid}/copy")).json()

    assert set(copy) == THREAD_KEYS


async def test_select_returns_only_the_selected_keys_that_exist(http: httpx.AsyncClient) -> None:
    tid = (await http.post("/threads", json={"metadata": {"shape": "select"}})).json()["thread_id"]
    await http.post(f"/threads/{tid}/runs/crons", json={"assistant_id": "agent", "schedule": "0 0 1 1 *"})

    threads = (
        await http.post(
            "/threads/search", json={"metadata": {"shape": "select"}, "select": ["thread_id", "interrupts", "nope"]}
        )
    ).json()
    assistants = (await http.post("/assistants/search", json={"select": ["assistant_id", "name"]})).json()
    crons = (await http.post("/runs/crons/search", json={"thread_id": tid, "select": ["cron_id", "end_time"]})).json()

    assert threads == [{"thread_id": tid}]  # a new thread has no interrupts to select
    assert assistants and all(set(a) == {"assistant_id", "name"} for a in assistants)
    assert len(crons) == 1 and set(crons[0]) == {"cron_id", "end_time"} and crons[0]["end_time"] is None
