"""`python -m bench.abuse`: how a real server process answers oversized input, and whether the rest of
the API stays responsive meanwhile.

Starts `python -m handrail serve` on a scratch database and, for each abusive request, prints its
status and time to answer, plus the latency of `GET /ok` polled every 10 ms while it is in flight.
The last case is a message just under MAX_MESSAGE_CHARS that the offline model must process: /ok
must stay fast while a run chews on it. Nothing is asserted; the figures are for reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from tests.support.http import free_port

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parents[1]


def message(text: str) -> dict[str, object]:
    return {"assistant_id": "agent", "input": {"messages": [{"role": "user", "content": text}]}}


async def probe_ok(http: httpx.AsyncClient, until: asyncio.Event) -> list[float]:
    """Latencies of /ok, polled every 10 ms until `until` is set."""
    seen: list[float] = []
    while not until.is_set():
        started = time.perf_counter()
        await http.get("/ok")
        seen.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return seen


async def case(name: str, http: httpx.AsyncClient, send: Callable[[], Awaitable[httpx.Response]]) -> None:
    done = asyncio.Event()
    prober = asyncio.create_task(probe_ok(http, done))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    response = await send()
    took = (time.perf_counter() - started) * 1000
    await asyncio.sleep(0.05)
    done.set()
    ok = await prober
    sys.stdout.write(
        f"{name:<46} {response.status_code}  answered in {took:8.1f} ms   /ok during: "
        f"p50 {statistics.median(ok):5.1f} ms, max {max(ok):6.1f} ms (n={len(ok)})\n"
    )


async def bench(base: str) -> None:
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as http,
        httpx.AsyncClient(base_url=base, timeout=120) as probe,
    ):
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        runs = f"/threads/{tid}/runs/wait"
        big = "refund policy " + "a" * 2_000_000
        await case("2 MB message (run input)", probe, lambda: http.post(runs, json=message(big)))
        huge = b'{"metadata": {"note": "' + b"x" * 20_000_000 + b'"}}'
        await case("20 MB JSON body (POST /threads)", probe, lambda: http.post("/threads", content=huge))
        await case("JSON nested 500 deep", probe, lambda: http.post("/threads", content=b"[" * 500 + b"]" * 500))
        under = "refund policy " + "a" * 31_000
        await case("31k-char message, processed by the agent", probe, lambda: http.post(runs, json=message(under)))
        digits = "what is " + "1 " * 15_000
        await case("30k chars of digits and spaces, processed", probe, lambda: http.post(runs, json=message(digits)))


async def main() -> None:
    name = f"handrail_abuse_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    env = {**os.environ, "DATABASE_URL": make_conninfo(ADMIN, dbname=name), "PORT": str(port), "LOG_LEVEL": "WARNING"}
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/ok")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        sys.stdout.write("Handrail abuse bench: one server process, offline model\n")
        await bench(base)
    finally:
        server.terminate()
        await server.wait()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
