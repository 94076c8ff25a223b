"""`python -m bench.steps`: the cost of one durable step, on bare LangGraph with nothing of Handrail's graph.

A trivial StateGraph of 8 nodes in a chain (8 super-steps, field notes §8), each appending one fresh
AIMessage, run sequentially with no checkpointer, with the stock `AsyncPostgresSaver` (on the pool the
conventions describe, which checks every connection on checkout) and with `HandrailSaver` (on Handrail's
own pool), durability `sync`, `async` and `exit`. ms per step is the wall time per run divided by 8. Uses a
scratch database on BENCH_POSTGRES_ADMIN_URL, dropped at the end. Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from bench.common import admin_url, measure, scratch_database

STEPS = 8


class StepState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _step(i: int) -> Any:
    async def step(state: StepState) -> dict[str, Any]:
        # A new message object (and so a new id) every time: one reused message would be replaced by
        # add_messages instead of appended (field notes §8, benchmark gotcha).
        return {"messages": [AIMessage(content=f"step {i} of {len(state['messages'])}")]}

    return step


def build(checkpointer: Any = None) -> Any:
    builder = StateGraph(StepState)
    previous = START
    for i in range(STEPS):
        builder.add_node(f"s{i}", _step(i))
        builder.add_edge(previous, f"s{i}")
        previous = f"s{i}"
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=checkpointer)


def stock_pool(dsn: str) -> Any:
    """The pool the conventions describe for the stock saver: a liveness check on every checkout."""
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(
        conninfo=dsn,
        connection_class=AsyncConnection,
        max_size=10,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
        check=AsyncConnectionPool.check_connection,
    )


async def _one_config(graph: Any, durability: str | None, runs: int, warmup: int) -> dict[str, Any]:
    async def one() -> bool:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        kwargs = {"durability": durability} if durability else {}
        out = await graph.ainvoke({"messages": [HumanMessage(content="go")]}, config, **kwargs)
        return len(out["messages"]) == STEPS + 1

    figures = await measure(one, runs=runs, concurrency=1, warmup=warmup)
    figures["ms_per_step"] = figures["wall_s"] * 1000 / figures["n"] / STEPS
    return figures


async def step_costs(dsn: str, *, runs: int = 60, warmup: int = 5) -> dict[str, dict[str, Any]]:
    """Figures per configuration ("none", "AsyncPostgresSaver/sync", ...) on an existing database."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from handrail.db import make_pool
    from handrail.migrate import migrate
    from handrail.saver import HandrailSaver

    results: dict[str, dict[str, Any]] = {"none": await _one_config(build(), None, runs, warmup)}
    handrail_pool, stock = make_pool(dsn, max_size=10), stock_pool(dsn)
    await handrail_pool.open(wait=True)
    await stock.open(wait=True)
    try:
        await migrate(handrail_pool)  # LangGraph's tables (saver.setup()) plus Handrail's own
        for name, saver in (
            ("AsyncPostgresSaver", AsyncPostgresSaver(stock)),
            ("HandrailSaver", HandrailSaver(handrail_pool)),  # type: ignore[arg-type]
        ):
            graph = build(saver)
            for durability in ("sync", "async", "exit"):
                results[f"{name}/{durability}"] = await _one_config(graph, durability, runs, warmup)
    finally:
        await stock.close()
        await handrail_pool.close()
    return results


async def figures(admin: str, *, runs: int = 60) -> dict[str, dict[str, Any]]:
    async with scratch_database(admin, "handrail_steps") as dsn:
        return await step_costs(dsn, runs=runs)


async def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "60"))
    sys.stdout.write(f"bare LangGraph, {STEPS}-super-step graph, {runs} sequential runs each\n")
    for name, f in (await figures(admin_url(), runs=runs)).items():
        sys.stdout.write(
            f"  {name:<26} {f['runs_per_s']:7.1f} runs/s   {f['ms_per_step']:5.2f} ms/step   "
            f"p50 {f['p50_ms']:6.1f} ms   p95 {f['p95_ms']:6.1f} ms\n"
        )


if __name__ == "__main__":
    asyncio.run(main())
