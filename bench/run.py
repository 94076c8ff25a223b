"""`python -m bench.run`: figures for the agent on Postgres checkpoints, in-process and through the HTTP API.

Prints runs/s, per-run latency percentiles and the process's peak RSS. Uses a scratch database on
BENCH_POSTGRES_ADMIN_URL (default: the local server), dropped at the end. Nothing here asserts a
target: the numbers are for reading and comparing (see field-notes §8 for the anchors).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from bench.common import QUESTION, admin_url, measure, scratch_database


def report(name: str, figures: dict[str, Any]) -> None:
    sys.stdout.write(
        f"{name:<52} {figures['runs_per_s']:8.1f} runs/s   p50 {figures['p50_ms']:7.1f} ms   "
        f"p95 {figures['p95_ms']:7.1f} ms   (n={figures['n']})\n"
    )


async def in_process(
    dsn: str,
    runs: int,
    *,
    savers: Sequence[str] = ("AsyncPostgresSaver", "HandrailSaver"),
    durabilities: Sequence[str] = ("sync", "exit"),
    concurrencies: Sequence[int] = (1, 8),
    warmup: int = 3,
) -> dict[str, dict[str, Any]]:
    """Handrail's graph (offline model, two-tool request) invoked directly: figures per configuration."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from graph.builder import build_graph
    from graph.context import AgentDeps, Models, RunContext
    from handrail.db import make_pool
    from handrail.migrate import migrate
    from handrail.saver import HandrailSaver
    from llm.offline import OfflineChatModel
    from tools.gate import InProcessApprovals
    from tools.registry import builtin_registry
    from tools.resources import ToolResources

    classes = {"AsyncPostgresSaver": AsyncPostgresSaver, "HandrailSaver": HandrailSaver}
    pool = make_pool(dsn, max_size=10)
    await pool.open(wait=True)
    results: dict[str, dict[str, Any]] = {}
    try:
        await migrate(pool)
        model = OfflineChatModel()
        models, resources = Models(model, model, model), ToolResources(pool=pool)
        deps = AgentDeps(models, builtin_registry(), resources, RunContext(), InProcessApprovals())
        for saver in savers:  # stock vs ours, side by side in one run
            graph = build_graph(deps, checkpointer=classes[saver](pool))  # type: ignore[arg-type]
            for durability in durabilities:
                for concurrency in concurrencies:

                    async def one(durability: str = durability, graph: Any = graph) -> bool:
                        cfg = {"configurable": {"thread_id": str(uuid.uuid4())}}
                        out = await graph.ainvoke(QUESTION, cfg, durability=durability)
                        return bool(out.get("final_answer") or out.get("messages"))

                    name = f"graph, {saver}, {durability}, {concurrency} at once"
                    results[name] = await measure(one, runs=runs, concurrency=concurrency, warmup=warmup)
    finally:
        await pool.close()
    return results


async def over_http(dsn: str, runs: int, concurrencies: Sequence[int] = (1, 8)) -> dict[str, dict[str, Any]]:
    """The app served by uvicorn inside this process, driven by the official SDK client."""
    from langgraph_sdk import get_client

    from handrail.settings import Settings
    from server import create_app
    from tests.support.http import serving

    results: dict[str, dict[str, Any]] = {}
    app = create_app(Settings(database_url=dsn, workers=8, worker_poll_s=0.05, log_level="WARNING"))
    async with serving(app) as url:
        client = get_client(url=url)
        for concurrency in concurrencies:

            async def one() -> None:
                thread = await client.threads.create()
                await client.runs.wait(thread["thread_id"], "agent", input=QUESTION)

            name = f"HTTP threads.create + runs.wait, {concurrency} at once"
            results[name] = await measure(one, runs=runs, concurrency=concurrency)
    return results


async def figures(admin: str, runs: int) -> dict[str, dict[str, Any]]:
    """Every figure this script prints, measured on a scratch database."""
    async with scratch_database(admin, "handrail_bench") as dsn:
        return {**await in_process(dsn, runs), **await over_http(dsn, runs)}


async def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "100"))
    sys.stdout.write(f"Handrail bench: offline model, 2-step plan (calculator, get_time), {runs} runs each\n")
    for name, f in (await figures(admin_url(), runs)).items():
        report(name, f)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(f"peak RSS of the bench process: {peak_mb:.0f} MiB\n")


if __name__ == "__main__":
    asyncio.run(main())
