"""`python -m bench.parallel`: a request of two independent 300 ms lookups, one step at a time and at once.

Handrail's graph in-process on the real Postgres checkpointer (durability `sync`), with a bench-only
read tool that sleeps 300 ms, asked for two such calls. With MAX_PARALLEL_STEPS=1 they run one after the
other; with the default they run as two LangGraph tasks of one super-step. Figures only, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from statistics import median
from typing import Any

from pydantic import BaseModel

from bench.common import admin_url, scratch_database
from handrail.db import make_pool
from handrail.migrate import migrate
from tests.support.agents import make_deps, make_graph, user
from tools.base import ToolEnv, ToolResult, tool
from tools.registry import Registry, builtin_registry

SLEEP_S = 0.3
RUNS = 10


class LookupArgs(BaseModel):
    key: str


@tool(args=LookupArgs, timeout_s=5)
async def slow_lookup(args: LookupArgs, env: ToolEnv) -> ToolResult:
    """Bench tool: looks a key up in a slow directory (300 ms)."""
    await asyncio.sleep(SLEEP_S)
    return ToolResult.success({"key": args.key, "value": args.key.upper()})


REQUEST = " then ".join(f"call slow_lookup with {json.dumps({'key': k})}" for k in ("tokyo", "osaka"))


async def parallel_steps(dsn: str, runs: int = RUNS) -> dict[str, dict[str, Any]]:
    pool = make_pool(dsn, min_size=1, max_size=8)
    await pool.open(wait=True)
    await migrate(pool)
    registry = Registry([*builtin_registry().specs(), slow_lookup])
    out: dict[str, dict[str, Any]] = {}
    try:
        for label, bound in (("one at a time (MAX_PARALLEL_STEPS=1)", 1), ("at once (MAX_PARALLEL_STEPS=4)", 4)):
            graph = make_graph(pool, make_deps(pool, registry=registry, max_parallel_steps=bound))
            seconds: list[float] = []
            for _ in range(runs + 1):  # the first warms up
                config = {"configurable": {"thread_id": f"bench-{uuid.uuid4()}"}}
                started = time.perf_counter()
                result = await graph.ainvoke(user(REQUEST), config)
                seconds.append(time.perf_counter() - started)
                assert [o["data"]["key"] for o in result["observations"]] == ["tokyo", "osaka"]
            ms = [s * 1000 for s in seconds[1:]]
            out[label] = {"p50_ms": round(median(ms), 1), "max_ms": round(max(ms), 1), "runs": runs}
    finally:
        await pool.close()
    return out


async def main() -> int:
    async with scratch_database(admin_url(), "handrail_bench_parallel") as dsn:
        figures = await parallel_steps(dsn)
    for label, f in figures.items():
        sys.stdout.write(f"two {SLEEP_S * 1000:.0f} ms lookups, {label:<38} p50 {f['p50_ms']:7.1f} ms\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
