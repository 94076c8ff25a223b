"""`python -m bench.storage`: how storage and turn time grow over one long thread.

Serves the app in this process on a scratch database and sends BENCH_TURNS (default 200) turns to one
thread with `runs.wait`, as a chat client does. After every turn it records the turn's wall time and
the live bytes of every table (the sum of its rows' sizes, so deleted rows awaiting vacuum do not
count), then prints the curve at a few turns and two ratios: bytes added per turn (growth over the
last 10 turns) and turn time (median of the last 10), each at the last turn over turn 40. Settings
are the defaults. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUESTIONS = ("what is (2+3)*4 and what time is it in Tokyo?", "what is our refund policy?")
TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "run_events", "runs", "threads", "approvals")
WINDOW = 10  # turns per window: figures are medians over a window, not single turns


def live_bytes(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        # The worker prunes after the client has its answer: measure once that is done, so each turn is
        # measured in the same state (the wait is not part of the turn's time).
        for _ in range(200):
            row = conn.execute(
                "SELECT bool_and(t.pruned_at >= r.ended_at) FROM threads t JOIN runs r USING (thread_id) "
                "WHERE r.created_at = (SELECT max(created_at) FROM runs WHERE thread_id = t.thread_id)"
            ).fetchone()
            if row and row[0]:
                break
            time.sleep(0.01)
        return {
            table: int(conn.execute(f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t").fetchone()[0])  # type: ignore[index]
            for table in TABLES
        }


def disk_bytes(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


async def drive(dsn: str, turns: int) -> dict[str, Any]:
    from langgraph_sdk import get_client

    from handrail.settings import Settings
    from server import create_app
    from tests.support.http import serving

    app = create_app(Settings(database_url=dsn, log_level="WARNING"))
    seconds: list[float] = []
    totals: list[int] = []
    by_table: list[dict[str, int]] = []
    async with serving(app) as url:
        client = get_client(url=url, timeout=120)
        tid = (await client.threads.create())["thread_id"]
        for turn in range(turns):
            message = {"messages": [{"role": "user", "content": QUESTIONS[turn % len(QUESTIONS)]}]}
            started = time.perf_counter()
            await client.runs.wait(tid, "agent", input=message)
            seconds.append(time.perf_counter() - started)
            sizes = await asyncio.to_thread(live_bytes, dsn)
            by_table.append(sizes)
            totals.append(sum(sizes.values()))
    return {"seconds": seconds, "totals": totals, "by_table": by_table}


def window(values: list[float], end: int) -> float:
    """Median over the WINDOW turns ending at turn `end` (1-based)."""
    return statistics.median(values[max(0, end - WINDOW) : end])


async def storage_curve(admin_url: str = ADMIN, turns: int = 200) -> dict[str, Any]:
    name = f"handrail_storage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = make_conninfo(admin_url, dbname=name)
        data = await drive(dsn, turns)
        disk = await asyncio.to_thread(disk_bytes, dsn)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    totals, seconds = data["totals"], data["seconds"]
    # Bytes added per turn at turn t: the growth over the WINDOW turns before it, per turn.
    added = [(totals[t] - totals[max(0, t - WINDOW)]) / min(WINDOW, t) if t else float(totals[0]) for t in range(turns)]
    early = min(40, turns)
    points = sorted({t for t in (10, 40, 100, 150, 200, turns) if t <= turns})
    curve = [
        {
            "turn": t,
            "turn_ms": round(window(seconds, t) * 1000, 1),
            "bytes_added_per_turn": round(added[t - 1]),
            "live_bytes": totals[t - 1],
            "live_bytes_by_table": data["by_table"][t - 1],
        }
        for t in points
    ]
    return {
        "turns": turns,
        "curve": curve,
        "database_bytes_on_disk": disk,
        "ratio_bytes_per_turn_last_over_40": round(added[turns - 1] / max(1.0, added[early - 1]), 2),
        "ratio_turn_time_last_over_40": round(window(seconds, turns) / window(seconds, early), 2),
    }


def render(result: dict[str, Any]) -> str:
    lines = [f"storage over {result['turns']} turns on one thread (medians over {WINDOW} turns):"]
    for point in result["curve"]:
        tables = ", ".join(f"{k} {v / 1024:.0f}" for k, v in point["live_bytes_by_table"].items() if v)
        lines.append(
            f"  turn {point['turn']:>3}: {point['turn_ms']:7.1f} ms/turn, "
            f"{point['bytes_added_per_turn'] / 1024:8.1f} KiB added/turn, live {point['live_bytes'] / 2**20:6.1f} MiB"
            f" (KiB: {tables})"
        )
    lines.append(f"  on disk at the end: {result['database_bytes_on_disk'] / 2**20:.1f} MiB")
    lines.append(
        f"  bytes added per turn, last/40: {result['ratio_bytes_per_turn_last_over_40']}x;"
        f" turn time, last/40: {result['ratio_turn_time_last_over_40']}x"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(asyncio.run(storage_curve(turns=int(os.environ.get("BENCH_TURNS", "200"))))))
