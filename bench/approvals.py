"""`python -m bench.approvals`: how long a paused run takes to run again after its approval is decided.

Against a running Handrail server: for each of BENCH_APPROVALS threads, a run that wants to send an
email pauses for approval; the bench finds it with `GET /approvals?status=pending&thread_id=`, POSTs
`{"decision": "approve"}` to `/approvals/{id}` and joins the resume run. The server's own timestamps
(the approval's `decided_at`, the resume run's `started_at` and `ended_at`, all from Postgres) give
decision → running and decision → final; the client gives POST → final. Run on its own, it starts a
server on a scratch database. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

import httpx
import psycopg

from bench.common import admin_url, percentile, scratch_database

ADDRESS = "alice@example.com"
EMAIL_REQUEST = {"messages": [{"role": "user", "content": f"email {ADDRESS} a summary of the refund policy"}]}

_TIMES = """
SELECT a.approval_id, a.status, a.decided_at, r.created_at, r.started_at, r.ended_at, r.status AS run_status
FROM approvals a JOIN runs r ON r.run_id = a.resume_run_id
WHERE a.approval_id = ANY(%s)
"""


def _server_times(dsn: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return {row["approval_id"]: row for row in cur.execute(_TIMES, (ids,)).fetchall()}


def _dist(values: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(values), "p95_ms": percentile(values, 0.95), "max_ms": max(values)}


async def approval_latency(url: str, dsn: str, *, approvals: int = 20) -> dict[str, Any]:
    """Decide `approvals` paused runs one after another on the server at `url` (whose database is `dsn`)."""
    from langgraph_sdk import get_client

    client = get_client(url=url, timeout=120)
    samples: list[dict[str, Any]] = []
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        for _ in range(approvals):
            tid = (await client.threads.create())["thread_id"]
            paused = await client.runs.wait(tid, "agent", input=EMAIL_REQUEST)
            if not paused.get("__interrupt__"):
                failures.append(f"did not pause: {repr(paused)[:200]}")
                continue
            found = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
            if len(found) != 1:
                failures.append(f"expected one pending approval, got {repr(found)[:200]}")
                continue
            approval_id = found[0]["approval_id"]
            sent_at = time.time()
            started = time.perf_counter()
            decided = await http.post(f"/approvals/{approval_id}", json={"decision": "approve"})
            answered = time.perf_counter()
            if decided.status_code != 200:
                failures.append(f"decision answered {decided.status_code}: {decided.text[:200]}")
                continue
            result = await client.runs.join(tid, decided.json()["run"]["run_id"])
            final = time.perf_counter()
            if ADDRESS not in str(result.get("final_answer", "")):
                failures.append(f"resume did not send: {repr(result)[:200]}")
            samples.append(
                {
                    "approval_id": approval_id,
                    "sent_at": sent_at,
                    "post_ms": (answered - started) * 1000,
                    "post_to_final_ms": (final - started) * 1000,
                }
            )
    times = await asyncio.to_thread(_server_times, dsn, [s["approval_id"] for s in samples])
    running, final, post_to_running = [], [], []
    for sample in samples:
        row = times.get(sample["approval_id"])
        if row is None or row["started_at"] is None or row["decided_at"] is None:
            failures.append(f"no resume run timestamps for approval {sample['approval_id']}")
            continue
        running.append((row["started_at"] - row["decided_at"]).total_seconds() * 1000)
        post_to_running.append((row["started_at"].timestamp() - sample["sent_at"]) * 1000)
        if row["ended_at"] is not None:
            final.append((row["ended_at"] - row["decided_at"]).total_seconds() * 1000)
    result: dict[str, Any] = {"approvals": approvals, "measured": len(running), "failures": failures}
    if running:
        result |= {
            "decided_to_running": _dist(running),  # server clock: approvals.decided_at -> runs.started_at
            "decided_to_final": _dist(final),  # server clock: approvals.decided_at -> runs.ended_at
            "post_to_running": _dist(post_to_running),  # client send time -> runs.started_at (one host clock)
            "post_to_final": _dist([s["post_to_final_ms"] for s in samples]),  # client clock, POST -> join returns
            "post_response": _dist([s["post_ms"] for s in samples]),
        }
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"approval resume latency, {result['measured']} of {result['approvals']} approvals:"]
    for key, label in (
        ("decided_to_running", "decided_at -> resume run started_at (server)"),
        ("decided_to_final", "decided_at -> resume run ended_at (server)"),
        ("post_to_running", "decision POST sent -> started_at"),
        ("post_to_final", "decision POST -> join returned (client)"),
        ("post_response", "decision POST answered (client)"),
    ):
        if key in result:
            d = result[key]
            lines.append(f"  {label:<48} p50 {d['p50_ms']:7.1f} ms   p95 {d['p95_ms']:7.1f} ms")
    lines += [f"  FAILED: {f}" for f in result["failures"]]
    return "\n".join(lines) + "\n"


async def main() -> None:
    from bench.servers import handrail_server

    async with scratch_database(admin_url(), "handrail_approvals") as dsn, handrail_server(dsn) as server:
        result = await approval_latency(server.url, dsn, approvals=int(os.environ.get("BENCH_APPROVALS", "20")))
    sys.stdout.write(render(result))


if __name__ == "__main__":
    asyncio.run(main())
