"""The same client script passes against Handrail and against `langgraph dev` loading langgraph.json."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tests.e2e.conftest import KEYS
from tests.support.client_script import (
    approval_round_trip,
    crons_round_trip,
    events_round_trip,
    runs_and_threads,
    versions_round_trip,
)
from tests.support.http import free_port
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def check(outcome: dict) -> None:
    assert outcome["assistant_id"] == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert outcome["first_event"] == "metadata"
    assert {"updates", "values"} <= outcome["event_kinds"]
    assert (outcome["paused_next"], outcome["paused_tool"], outcome["status_paused"]) == (
        ["approve"],
        "send_email",
        "interrupted",
    )
    assert "30 days" in outcome["final_answer"]
    assert outcome["status_done"] == "idle"
    assert outcome["history_len"] >= 9


def check_versions(outcome: dict) -> None:
    assert outcome["created_version"] == 1
    assert outcome["listed"] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert outcome["listed_metadata"] == {"script": "versions", "stage": "review"}
    assert outcome["reviewed"] == [3]
    assert outcome["unmatched"] == 404, "a filter matching no version is a 404, not []"
    assert outcome["switched"] == (1, "v1", {"script": "versions"})
    assert outcome["active"] == (1, "v1")
    assert outcome["later_version"] == 4


def check_runs_and_threads(outcome: dict) -> None:
    assert outcome == {"run_status": "success", "cancel_finished": 404, "busy_thread_after_delete": 404}


def check_crons(outcome: dict) -> None:
    assert outcome == {
        "stateless": (None, "delete", True),
        "for_thread": (True, "0 9 * * *", True),
        "next_run_dates": True,
        "found": True,
        "updated": ("0 * * * *", False, "00"),
        "counted": 2,
        "bad_schedule": 422,
        "left_after_deletes": 0,
    }


def check_events(outcome: dict) -> None:
    assert outcome["first"] == "metadata"
    assert outcome["kinds"] == {"metadata", "events", "messages/metadata", "messages/complete"}
    assert outcome["root"] == ("on_chain_start", "agent", True, "on_chain_end")
    assert outcome["answer"] == outcome["completed"] == "6*7 = 42"
    assert outcome["tool"] == [{"expression": "6*7", "result": 42}]
    assert outcome["graph_stream_events"] == 0
    assert outcome["replayed_same"]


async def test_the_client_script_passes_against_handrail(base_url):
    check(await approval_round_trip(get_client(url=base_url, api_key=KEYS["alice"])))
    check_versions(await versions_round_trip(get_client(url=base_url, api_key=KEYS["alice"])))
    check_runs_and_threads(await runs_and_threads(get_client(url=base_url, api_key=KEYS["alice"])))
    check_crons(await crons_round_trip(get_client(url=base_url, api_key=KEYS["alice"])))
    check_events(await events_round_trip(get_client(url=base_url, api_key=KEYS["alice"])))


@pytest.fixture(scope="module")
async def langgraph_dev(database_url: str) -> AsyncIterator[str]:
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    assert cli, "langgraph-cli is a dev dependency: run `make install`"
    port = free_port()  # `langgraph dev` silently moves to another port if this one is taken
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(
        cli,
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert proc.returncode is None, "langgraph dev exited; run it by hand to see why"
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{url}/ok")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(up, within_s=60, every_s=0.2)
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)


@pytest.mark.slow
async def test_the_same_client_script_passes_against_langgraph_dev(langgraph_dev):
    check(await approval_round_trip(get_client(url=langgraph_dev)))
    check_versions(await versions_round_trip(get_client(url=langgraph_dev)))
    check_runs_and_threads(await runs_and_threads(get_client(url=langgraph_dev)))
    check_crons(await crons_round_trip(get_client(url=langgraph_dev)))
    check_events(await events_round_trip(get_client(url=langgraph_dev)))
