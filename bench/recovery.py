"""`python -m bench.recovery`: how long runs in flight take to be final after the whole server is
SIGKILLed and started again (default settings: HEARTBEAT_S 2, RUN_LEASE_S 15).

Starts `python -m handrail serve` on a scratch database with the test probe tool, queues BENCH_RUNS runs
whose second step takes 3 s, SIGKILLs the server while they are inside it, starts a new server at once,
and prints the time from the kill until every run is final. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from tests.support.http import free_port
from tests.support.probe_tools import PROBE_TABLE

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
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
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/ok")).status_code == 200:
                    return server
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


async def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "8"))
    name = f"handrail_recovery_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(ADMIN, dbname=name)
    port = free_port()
    try:
        server = await serve(dsn, port)
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
        server.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        await server.wait()
        server = await serve(dsn, port)
        restarted = time.perf_counter() - killed
        final = "SELECT count(*) FROM runs WHERE status NOT IN ('pending', 'running')"
        while await asyncio.to_thread(count, dsn, final) < runs:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        took = time.perf_counter() - killed
        sys.stdout.write(
            f"crash recovery: {runs} runs in flight, whole server SIGKILLed; restarted in {restarted:.1f} s, "
            f"all final {took:.1f} s after the kill\n"
        )
        server.terminate()
        await server.wait()
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
