"""`python -m bench` (`make bench`): every cell of issue 12's benchmark, measured side by side in one run.

Each cell runs on its own scratch database on BENCH_POSTGRES_ADMIN_URL (dropped at the end): bare
LangGraph's durable step cost (stock saver and Handrail's), Handrail's graph in-process, Handrail over
HTTP and `langgraph dev` at 1 and 16 concurrent runs (both servers up at once, measured in alternation),
approval resume latency, crash recovery, SQL statements per run, the 200-turn storage curve, hostile
input, Handrail at 16 at once with Langfuse tracing off and on, and two independent 300 ms steps one at a
time and at once (issue 21). Throughput figures are medians
over BENCH_REPEAT repetitions (default 3). Prints one table and
the ratios the targets name (MET / NOT MET, never asserted), and writes bench/out/report-<UTC>.json and
bench/out/latest.json. A cell that fails is reported as failed; the others still run.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from bench import report
from bench.common import admin_url, median_of, repeat_count, scratch_database

STEP_RUNS = int(os.environ.get("BENCH_STEP_RUNS", "60"))  # bare 8-step graph, per configuration
GRAPH_RUNS = int(os.environ.get("BENCH_GRAPH_RUNS", "30"))  # Handrail's graph in-process, per configuration
HTTP_RUNS_1 = int(os.environ.get("BENCH_HTTP_RUNS_1", "30"))  # Handrail over HTTP, one at a time
DEV_RUNS_1 = int(os.environ.get("BENCH_DEV_RUNS_1", "10"))  # langgraph dev, one at a time (~1 s each)
RUNS_16 = int(os.environ.get("BENCH_RUNS_16", "128"))  # either server, 16 at once
APPROVALS = int(os.environ.get("BENCH_APPROVALS", "20"))
RECOVERY_RUNS = int(os.environ.get("BENCH_RECOVERY_RUNS", "8"))
STATEMENT_RUNS = int(os.environ.get("BENCH_STATEMENT_RUNS", "20"))
TURNS = int(os.environ.get("BENCH_TURNS", "200"))
PACKAGES = (
    "langgraph",
    "langgraph-checkpoint-postgres",
    "langgraph-api",
    "langgraph-runtime-inmem",
    "langgraph-cli",
    "langgraph-sdk",
    "psycopg",
    "uvicorn",
)


def note(text: str) -> None:
    """Progress goes to stderr; the table is stdout's."""
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


async def run_cell(cells: dict[str, Any], key: str, title: str, body: Callable[[], Awaitable[Any]]) -> None:
    note(f"{title} ...")
    started = time.perf_counter()
    try:
        cells[key] = {"ok": True, "result": await body()}
    except CellSkipped as skipped:
        cells[key] = {"ok": False, "skipped": str(skipped)}
        sys.stdout.write(f"note: cell {title} skipped: {skipped}\n")
    except Exception as exc:  # one failed cell must not hide the others' figures; the report says it failed
        traceback.print_exc()
        cells[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    cells[key]["seconds"] = round(time.perf_counter() - started, 1)
    outcome = "done" if cells[key]["ok"] else "skipped" if "skipped" in cells[key] else "FAILED"
    note(f"{title}: {outcome} in {cells[key]['seconds']} s")


# --- the cells ---------------------------------------------------------------------------------


async def bare_langgraph(admin: str, repeat: int) -> dict[str, Any]:
    from bench.steps import step_costs

    async with scratch_database(admin, "handrail_bench_steps") as dsn:
        reps = [await step_costs(dsn, runs=STEP_RUNS) for _ in range(repeat)]
    return {name: median_of([rep[name] for rep in reps]) for name in reps[0]}


async def in_process(admin: str, repeat: int) -> dict[str, Any]:
    from bench.run import in_process as measure_graph

    async with scratch_database(admin, "handrail_bench_graph") as dsn:
        reps = [
            await measure_graph(
                dsn, GRAPH_RUNS, savers=("HandrailSaver",), durabilities=("sync", "async", "exit"), concurrencies=(1,)
            )
            for _ in range(repeat)
        ]
    return {name: median_of([rep[name] for rep in reps]) for name in reps[0]}


async def http_and_approvals(admin: str, repeat: int, cells: dict[str, Any]) -> dict[str, Any]:
    """Cells 3, 4 and 5: Handrail and `langgraph dev` up at once, measured in alternation so drift in the
    machine's load hits both alike; then approvals on the Handrail server."""
    from contextlib import AsyncExitStack

    from bench.approvals import approval_latency
    from bench.load import create_and_wait, wait_alone
    from bench.servers import handrail_server, langgraph_dev

    result: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        handrail_dsn = await stack.enter_async_context(scratch_database(admin, "handrail_bench_http"))
        dev_dsn = await stack.enter_async_context(scratch_database(admin, "handrail_bench_dev"))
        servers: dict[str, Any] = {}
        for key, start, dsn in (("handrail", handrail_server, handrail_dsn), ("langgraph_dev", langgraph_dev, dev_dsn)):
            try:
                servers[key] = await stack.enter_async_context(start(dsn))
                result[f"{key}_facts"] = servers[key].facts
            except Exception as exc:
                traceback.print_exc()
                result[f"{key}_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if not servers:
            raise RuntimeError("neither server started")
        reps: dict[str, dict[str, list[dict[str, Any]]]] = {key: {"1": [], "16": []} for key in servers}
        for rep in range(repeat):
            for concurrency, runs in ((1, None), (16, RUNS_16)):
                for key, server in servers.items():
                    n = runs or (HTTP_RUNS_1 if key == "handrail" else DEV_RUNS_1)
                    try:
                        before = _cpu(server)
                        figures = await create_and_wait(server.url, runs=n, concurrency=concurrency)
                        figures |= _cpu_per_run(before, _cpu(server), figures["n"])
                    except Exception as exc:
                        traceback.print_exc()
                        result[f"{key}_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                        continue
                    reps[key][str(concurrency)].append(figures)
                    if key == "handrail" and concurrency == 1:
                        reps[key].setdefault("wait", []).append(await wait_alone(server.url, runs=n))
                    note(
                        f"  rep {rep + 1}/{repeat} {key} {concurrency} at once: {figures['runs_per_s']:.1f} runs/s, "
                        f"p50 {figures['p50_ms']:.1f} ms, errors {figures['errors']}"
                    )
        for key, by_concurrency in reps.items():
            result[key] = {c: median_of(figs) for c, figs in by_concurrency.items() if figs}
        if "handrail" in servers:
            result["handrail_facts"]["processes_after_load"] = servers["handrail"].processes()
            started = time.perf_counter()
            try:
                approvals = await approval_latency(servers["handrail"].url, handrail_dsn, approvals=APPROVALS)
                cells["approvals"] = {"ok": True, "result": approvals}
            except Exception as exc:
                traceback.print_exc()
                cells["approvals"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
            cells["approvals"]["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _cpu(server: Any) -> dict[str, float]:
    """CPU seconds so far of the server's processes, of Postgres, and of this process (the client)."""
    from bench.common import cpu_seconds, postgres_pids
    from bench.servers import group_members

    return {
        "server": cpu_seconds(group_members(server.process.pid)),
        "postgres": cpu_seconds(postgres_pids()),
        "client": cpu_seconds([os.getpid()]),
    }


def _cpu_per_run(before: dict[str, float], after: dict[str, float], runs: int) -> dict[str, float]:
    """Where the machine's CPU went, per run: what bounds throughput once every core is busy."""
    return {f"cpu_{k}_ms": round((after[k] - before[k]) * 1000 / max(runs, 1), 2) for k in before}


async def recovery(admin: str, repeat: int) -> dict[str, Any]:
    from bench.recovery import figures

    return median_of([await figures(admin, RECOVERY_RUNS) for _ in range(repeat)])


async def statements(admin: str) -> dict[str, Any]:
    from bench.statements import statements_per_run

    return await statements_per_run(admin, STATEMENT_RUNS)


async def storage(admin: str) -> dict[str, Any]:
    try:
        module = importlib.import_module("bench.storage")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.storage":
            raise
        raise CellSkipped("bench/storage.py is not there yet (another engineer's file)") from None
    return await module.storage_curve(admin, turns=TURNS)


async def tracing_cost(admin: str, repeat: int) -> dict[str, Any]:
    """Handrail over HTTP at 16 at once with Langfuse tracing off and on (to a local stand-in for the
    host that decodes nothing, so the figure is the server's cost), measured in alternation."""
    from bench.load import create_and_wait
    from bench.servers import handrail_server
    from tests.support.langfuse_receiver import langfuse_host

    figures: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    async with (
        langfuse_host() as host,
        scratch_database(admin, "handrail_bench_trace_off") as off_dsn,
        scratch_database(admin, "handrail_bench_trace_on") as on_dsn,
    ):
        keys = {"LANGFUSE_PUBLIC_KEY": "pk-bench", "LANGFUSE_SECRET_KEY": "sk-bench", "LANGFUSE_BASE_URL": host.url}
        async with handrail_server(off_dsn) as off, handrail_server(on_dsn, **keys) as on:
            for server in (off, on):
                await create_and_wait(server.url, runs=32, concurrency=16)
            for _ in range(repeat):
                for key, server in (("off", off), ("on", on)):
                    figures[key].append(await create_and_wait(server.url, runs=RUNS_16, concurrency=16))
        exported = len(host.receiver.requests)
    return {"off": median_of(figures["off"]), "on": median_of(figures["on"]), "export_requests": exported}


async def parallel(admin: str) -> dict[str, Any]:
    from bench.parallel import parallel_steps

    async with scratch_database(admin, "handrail_bench_parallel") as dsn:
        return await parallel_steps(dsn)


async def abuse(admin: str) -> dict[str, Any]:
    from bench.abuse import abuse as hostile_input

    return await hostile_input(admin)


class CellSkipped(Exception):
    """A cell that cannot run here, and why."""


# --- the run -----------------------------------------------------------------------------------


def meta(started: datetime, repeat: int, admin: str) -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.rstrip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    server = {k: v for k, v in conninfo_to_dict(admin).items() if k in ("host", "port", "user", "dbname")}
    return {
        "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "commit": git("rev-parse", "--short", "HEAD"),
        # Others edit this working tree too: what was measured is the commit plus these uncommitted paths.
        "uncommitted": [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:]],
        "load_average_at_start": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "repeat": repeat,
        "postgres_admin": server,
        "runs": {
            "bare_graph_per_config": STEP_RUNS,
            "handrail_graph_per_config": GRAPH_RUNS,
            "handrail_http_1": HTTP_RUNS_1,
            "langgraph_dev_1": DEV_RUNS_1,
            "either_server_16": RUNS_16,
            "approvals": APPROVALS,
            "recovery_runs_in_flight": RECOVERY_RUNS,
            "statements": STATEMENT_RUNS,
            "storage_turns": TURNS,
        },
    }


async def main() -> int:
    started = datetime.now(UTC)
    clock = time.perf_counter()
    admin, repeat = admin_url(), repeat_count()
    about = meta(started, repeat, admin)
    cells: dict[str, Any] = {}
    await run_cell(cells, "bare_langgraph", "1 bare LangGraph, 8-step graph", lambda: bare_langgraph(admin, repeat))
    await run_cell(cells, "in_process", "2 Handrail graph in-process", lambda: in_process(admin, repeat))
    http_title = "3-5 HTTP: Handrail and langgraph dev, then approvals"
    await run_cell(cells, "http", http_title, lambda: http_and_approvals(admin, repeat, cells))
    if "approvals" not in cells:
        cells["approvals"] = {"ok": False, "error": "not run: the Handrail server of cell 3 did not start"}
    await run_cell(cells, "recovery", "6 crash recovery", lambda: recovery(admin, repeat))
    await run_cell(cells, "statements", "7 SQL statements per run", lambda: statements(admin))
    await run_cell(cells, "storage", f"8 storage over {TURNS} turns", lambda: storage(admin))
    await run_cell(cells, "abuse", "9 hostile input", lambda: abuse(admin))
    await run_cell(cells, "tracing", "10 Langfuse tracing on vs off", lambda: tracing_cost(admin, repeat))
    await run_cell(cells, "parallel", "11 two independent 300 ms steps", lambda: parallel(admin))
    order = [
        "bare_langgraph",
        "in_process",
        "http",
        "approvals",
        "recovery",
        "statements",
        "storage",
        "abuse",
        "tracing",
        "parallel",
    ]
    result = {
        "meta": about,
        "cells": {key: cells[key] for key in order if key in cells},
    }
    result["ratios"] = report.ratios(result["cells"])
    result["meta"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    result["meta"]["duration_s"] = round(time.perf_counter() - clock, 1)
    result["meta"]["load_average_at_end"] = os.getloadavg()
    sys.stdout.write(report.table(result))
    path = report.write(result, started)
    sys.stdout.write(
        f"report: {path.relative_to(report.OUT.parents[1])} (and bench/out/latest.json); "
        f"{result['meta']['duration_s']:.0f} s in all\n"
    )
    return 0 if all(cell.get("ok") or cell.get("skipped") for cell in cells.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
