"""`python -m bench.recovery`: how long runs in flight take to be final after the whole server is
SIGKILLed and started again (default settings: HEARTBEAT_S 2, RUN_LEASE_S 15).

Starts `python -m handrail serve` on a scratch database with the test probe tool, queues BENCH_RUNS runs
whose second step takes 3 s, SIGKILLs the server's whole process group while they are inside it, starts
a new server at once, and prints the time from the kill until every run is final. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import admin_url, scratch_database
from tests.support.http import free_port
from tests.support.probe_tools import PROBE_TABLE

ROOT = Path(__file__).resolve().parents[1]
STEPS = " then ".join(
    f"call probe with {json.dumps({'label': label, 'seconds': s})}" for label, s in (("a", 0), ("b", 3))
)


async def serve(dsn: str, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "PORT": str(port),
        "WORKERS": "8",
        "LOG_LEVEL": "ERROR",
        "TOOL_MODULES": json.dumps(["tests.support.probe_tools"]),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env, start_new_session=True
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/ok")).status_code == 200:
                    return server
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def statuses(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {s: int(n) for s, n in conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()}


def kill_group(server: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """The whole server: its process and every process it started (PROCESSES > 1)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, sig)


async def recovery(dsn: str, runs: int = 8) -> dict[str, Any]:
    """Queue `runs` runs, SIGKILL the server while each is inside its slow step, restart, time until all final."""
    port = free_port()
    server = await serve(dsn, port)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(PROBE_TABLE)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(runs):
                tid = (await http.post("/threads", json={})).json()["thread_id"]
                body = {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": STEPS}]}}
                await http.post(f"/threads/{tid}/runs", json=body)
        inside = "SELECT count(*) FROM probe_calls WHERE label = 'b'"
        while await asyncio.to_thread(count, dsn, inside) < runs:  # noqa: ASYNC110 (the state is in Postgres)
            await asyncio.sleep(0.05)
        kill_group(server, signal.SIGKILL)
        killed = time.perf_counter()
        await server.wait()
        server = await serve(dsn, port)
        restarted = time.perf_counter() - killed
        final = "SELECT count(*) FROM runs WHERE status NOT IN ('pending', 'running')"
        while await asyncio.to_thread(count, dsn, final) < runs:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        took = time.perf_counter() - killed
        return {
            "runs_in_flight": runs,
            "restart_s": restarted,
            "all_final_s": took,
            "statuses": await asyncio.to_thread(statuses, dsn),
        }
    finally:
        kill_group(server, signal.SIGTERM)
        await server.wait()


async def figures(admin: str, runs: int = 8) -> dict[str, Any]:
    async with scratch_database(admin, "handrail_recovery") as dsn:
        return await recovery(dsn, runs)


def render(result: dict[str, Any]) -> str:
    return (
        f"crash recovery: {result['runs_in_flight']} runs in flight, whole server SIGKILLed; restarted in "
        f"{result['restart_s']:.1f} s, all final {result['all_final_s']:.1f} s after the kill "
        f"(statuses: {result['statuses']})\n"
    )


async def main() -> None:
    sys.stdout.write(render(await figures(admin_url(), int(os.environ.get("BENCH_RUNS", "8")))))


if __name__ == "__main__":
    asyncio.run(main())
