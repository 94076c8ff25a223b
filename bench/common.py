"""What every bench shares: the admin DSN, the two-tool request, scratch databases, timing and medians."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUESTION = {"messages": [{"role": "user", "content": "what is (2+3)*4 and what time is it in Tokyo?"}]}


def admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_ADMIN_URL", ADMIN)


def create_database(admin: str, prefix: str) -> str:
    """A new empty database on the admin server; returns its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(admin, dbname=name)


def drop_database(admin: str, dsn: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_database(admin: str, prefix: str) -> AsyncIterator[str]:
    """Yield the DSN of a fresh database, dropped afterwards whatever happened."""
    dsn = await asyncio.to_thread(create_database, admin, prefix)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(drop_database, admin, dsn)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summarise(latencies_s: Sequence[float], wall_s: float) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "runs_per_s": len(ms) / wall_s if wall_s else 0.0,
        "p50_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 0.95),
        "mean_ms": statistics.fmean(ms),
        "n": len(ms),
        "wall_s": wall_s,
    }


async def measure(one: Callable[[], Awaitable[Any]], *, runs: int, concurrency: int, warmup: int = 0) -> dict[str, Any]:
    """Run `one` `runs` times from `concurrency` clients; runs/s over the wall time, latency percentiles.

    `one` returns a truthy value for a run that did what it should; the others are counted as errors."""
    for _ in range(warmup):
        await one()
    latencies: list[float] = []
    errors = 0
    queue = iter(range(runs))

    async def client() -> None:
        nonlocal errors
        for _ in queue:
            started = time.perf_counter()
            ok = await one()
            latencies.append(time.perf_counter() - started)
            errors += ok is False

    wall = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {**summarise(latencies, time.perf_counter() - wall), "concurrency": concurrency, "errors": errors}


def median_of(reps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric figure over repetitions; other fields from the first; all reps kept."""
    if not reps:
        return {}
    merged: dict[str, Any] = {}
    for key, value in reps[0].items():
        if key == "errors":
            merged[key] = sum(rep.get(key) or 0 for rep in reps)
            continue
        values = [rep.get(key) for rep in reps]
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and all(isinstance(v, int | float) for v in values)
        ):
            merged[key] = statistics.median(values)  # type: ignore[arg-type]
        else:
            merged[key] = value
    if len(reps) > 1:
        merged["reps"] = list(reps)
    return merged


def repeat_count() -> int:
    return max(1, int(os.environ.get("BENCH_REPEAT", "3")))


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes have used so far (those that are gone count nothing)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def postgres_pids() -> list[int]:
    """Every Postgres server process on this machine (backends come and go with connections)."""
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]
