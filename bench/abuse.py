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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import admin_url, scratch_database
from tests.support.http import free_port

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


async def case(name: str, http: httpx.AsyncClient, send: Callable[[], Awaitable[httpx.Response]]) -> dict[str, Any]:
    done = asyncio.Event()
    prober = asyncio.create_task(probe_ok(http, done))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    response = await send()
    took = (time.perf_counter() - started) * 1000
    await asyncio.sleep(0.05)
    done.set()
    ok = await prober
    return {
        "case": name,
        "status": response.status_code,
        "answered_ms": took,
        "ok_p50_ms": statistics.median(ok),
        "ok_max_ms": max(ok),
        "ok_n": len(ok),
    }


async def bench(base: str) -> list[dict[str, Any]]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as http,
        httpx.AsyncClient(base_url=base, timeout=120) as probe,
    ):
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        runs = f"/threads/{tid}/runs/wait"
        big = "refund policy " + "a" * 2_000_000
        huge = b'{"metadata": {"note": "' + b"x" * 20_000_000 + b'"}}'
        under = "refund policy " + "a" * 31_000
        digits = "what is " + "1 " * 15_000
        processed = "30k chars of digits and spaces, processed"
        return [
            await case("2 MB message (run input)", probe, lambda: http.post(runs, json=message(big))),
            await case("20 MB JSON body (POST /threads)", probe, lambda: http.post("/threads", content=huge)),
            await case("JSON nested 500 deep", probe, lambda: http.post("/threads", content=b"[" * 500 + b"]" * 500)),
            await case("31k-char message, processed by the agent", probe, lambda: http.post(runs, json=message(under))),
            await case(processed, probe, lambda: http.post(runs, json=message(digits))),
        ]


async def abuse(admin: str) -> dict[str, Any]:
    """One server process on a scratch database; the figures of every hostile request."""
    async with scratch_database(admin, "handrail_abuse") as dsn:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": dsn, "PORT": str(port), "LOG_LEVEL": "WARNING"}
        server = await asyncio.create_subprocess_exec(sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as http:
                for _ in range(300):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get("/ok")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            return {"cases": await bench(base)}
        finally:
            server.terminate()
            await server.wait()


def render(result: dict[str, Any]) -> str:
    lines = ["Handrail abuse bench: one server process, offline model"]
    lines += [
        f"{c['case']:<46} {c['status']}  answered in {c['answered_ms']:8.1f} ms   /ok during: "
        f"p50 {c['ok_p50_ms']:5.1f} ms, max {c['ok_max_ms']:6.1f} ms (n={c['ok_n']})"
        for c in result["cases"]
    ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    sys.stdout.write(render(await abuse(admin_url())))


if __name__ == "__main__":
    asyncio.run(main())
