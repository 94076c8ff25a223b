"""`make bench`: figures for the agent on Postgres checkpoints, in-process and through the HTTP API.

Prints runs/s, per-run latency percentiles and the process's peak RSS. Uses a scratch database on
BENCH_POSTGRES_ADMIN_URL (default: the local server), dropped at the end. Nothing here asserts a
target: the numbers are for reading and comparing (see field-notes §8 for the anchors).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from graph.builder import build_graph
from graph.context import AgentDeps, Models, RunContext
from handrail.db import make_pool
from handrail.migrate import migrate
from handrail.saver import HandrailSaver
from llm.offline import OfflineChatModel
from tools.gate import InProcessApprovals
from tools.registry import builtin_registry
from tools.resources import ToolResources

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
QUESTION = {"messages": [{"role": "user", "content": "what is (2+3)*4 and what time is it in Tokyo?"}]}


def report(name: str, latencies: list[float], wall: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    sys.stdout.write(
        f"{name:<52} {len(ms) / wall:8.1f} runs/s   p50 {statistics.median(ms):7.1f} ms   "
        f"p95 {p95:7.1f} ms   (n={len(ms)})\n"
    )


async def measure(name: str, one: Callable[[], Awaitable[Any]], *, runs: int, concurrency: int) -> None:
    latencies: list[float] = []
    queue = iter(range(runs))

    async def client() -> None:
        for _ in queue:
            started = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - started)

    wall = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    report(name, latencies, time.perf_counter() - wall)


async def in_process(dsn: str, runs: int) -> None:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    pool = make_pool(dsn, max_size=10)
    await pool.open(wait=True)
    await migrate(pool)
    model = OfflineChatModel()
    deps = AgentDeps(
        Models(model, model, model), builtin_registry(), ToolResources(pool=pool), RunContext(), InProcessApprovals()
    )
    for saver in (AsyncPostgresSaver, HandrailSaver):  # stock vs ours, side by side in one run
        graph = build_graph(deps, checkpointer=saver(pool))  # type: ignore[arg-type]
        for durability in ("sync", "exit"):
            for concurrency in (1, 8):

                async def one(durability: str = durability, graph: Any = graph) -> None:
                    cfg = {"configurable": {"thread_id": str(uuid.uuid4())}}
                    await graph.ainvoke(QUESTION, cfg, durability=durability)

                name = f"graph, {saver.__name__}, {durability}, {concurrency} at once"
                await measure(name, one, runs=runs, concurrency=concurrency)
    await pool.close()


async def over_http(dsn: str, runs: int) -> None:
    from langgraph_sdk import get_client

    from handrail.settings import Settings
    from server import create_app
    from tests.support.http import serving

    app = create_app(Settings(database_url=dsn, workers=8, worker_poll_s=0.05, log_level="WARNING"))
    async with serving(app) as url:
        client = get_client(url=url)
        for concurrency in (1, 8):

            async def one() -> None:
                thread = await client.threads.create()
                await client.runs.wait(thread["thread_id"], "agent", input=QUESTION)

            await measure(
                f"HTTP threads.create + runs.wait, {concurrency} at once", one, runs=runs, concurrency=concurrency
            )


async def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "100"))
    name = f"handrail_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = make_conninfo(ADMIN, dbname=name)
        sys.stdout.write(f"Handrail bench: offline model, 2-step plan (calculator, get_time), {runs} runs each\n")
        await in_process(dsn, runs)
        await over_http(dsn, runs)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sys.stdout.write(f"peak RSS of the bench process: {peak_mb:.0f} MiB\n")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
