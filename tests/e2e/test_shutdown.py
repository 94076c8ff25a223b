"""SIGTERM stops a serving process within its grace period, even with a client joined to a long run,
and the interrupted run goes back to the queue instead of being lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import probe_request
from tests.support.db import fresh_database
from tests.support.http import free_port
from tests.support.probe_tools import PROBE_TABLE
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 2
pytestmark = pytest.mark.slow


async def test_sigterm_stops_the_server_within_its_grace_period_and_requeues_the_run():
    with fresh_database("handrail_shutdown") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(PROBE_TABLE)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "PORT": str(port),
            "WORKERS": "1",
            "SHUTDOWN_GRACE_S": str(GRACE_S),
            "TOOL_MODULES": json.dumps(["tests.support.probe_tools"]),
            "API_KEYS": f"{KEYS['alice']}:alice",
            "LOG_LEVEL": "WARNING",
        }
        server = await asyncio.create_subprocess_exec(sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers={"x-api-key": KEYS["alice"]}, timeout=60) as http:

                async def up() -> bool:
                    with contextlib.suppress(httpx.TransportError):
                        return (await http.get("/ok")).status_code == 200
                    return False

                await eventually(up, within_s=30)
                tid = (await http.post("/threads", json={})).json()["thread_id"]
                run = (
                    await http.post(
                        f"/threads/{tid}/runs",
                        json={"assistant_id": "agent", "input": probe_request(("a", 9), ("b", 9), ("c", 9))},
                    )
                ).json()
                joined = asyncio.create_task(http.get(f"/threads/{tid}/runs/{run['run_id']}/join"))

                def probe_started() -> bool:
                    with psycopg.connect(dsn) as conn:
                        return conn.execute("SELECT 1 FROM probe_calls WHERE thread_id = %s", (tid,)).fetchone()

                async def started() -> bool:
                    return bool(await asyncio.to_thread(probe_started))

                await eventually(started, within_s=30)
                server.send_signal(signal.SIGTERM)
                # A liveness bound, not a measurement: open requests get GRACE_S, in-flight runs GRACE_S more.
                code = await asyncio.wait_for(server.wait(), 4 * GRACE_S + 10)
                with contextlib.suppress(httpx.TransportError):
                    await joined
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()

        with psycopg.connect(dsn) as conn:
            status, worker = conn.execute(
                "SELECT status, worker_id FROM runs WHERE run_id = %s", (run["run_id"],)
            ).fetchone()
    assert code in (0, -signal.SIGTERM), "a graceful exit (uvicorn re-raises the signal it caught)"
    assert (status, worker) == ("pending", None), "the interrupted run went back to the queue"
