"""The harness's output: the ratios issue 12's targets name, one table of every cell, and the JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def _result(cells: dict[str, Any], name: str) -> Any:
    cell = cells.get(name) or {}
    return cell.get("result") if cell.get("ok") else None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def _entry(name: str, value: float | None, unit: str, target: str, met: Callable[[float], bool] | None) -> dict:
    if value is None:
        status = "NOT MEASURED"
    elif met is None:
        status = "reference"
    else:
        status = "MET" if met(value) else "NOT MET"
    return {"name": name, "value": value, "unit": unit, "target": target, "status": status}


def ratios(cells: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure a target of issue 12 names, with the target and whether this run met it (never asserted)."""
    http, steps, inproc = _result(cells, "http"), _result(cells, "bare_langgraph"), _result(cells, "in_process")
    storage, recovery = _result(cells, "storage"), _result(cells, "recovery")
    tracing = _result(cells, "tracing")
    handrail16, dev16 = _get(http, "handrail", "16", "runs_per_s"), _get(http, "langgraph_dev", "16", "runs_per_s")
    http1 = _get(http, "handrail", "1", "p50_ms")
    wait1 = _get(http, "handrail", "wait", "p50_ms")
    inproc1 = _get(inproc, "graph, HandrailSaver, sync, 1 at once", "p50_ms")
    return [
        _entry("HTTP@16 runs/s ÷ langgraph dev@16 runs/s", _ratio(handrail16, dev16), "×", "≥ 2", lambda v: v >= 2),
        _entry("HTTP@1 p50 ÷ in-process graph (sync) p50", _ratio(http1, inproc1), "×", "≤ 1.2", lambda v: v <= 1.2),
        _entry(
            "HTTP runs.wait alone p50 ÷ in-process graph (sync) p50",
            _ratio(wait1, inproc1),
            "×",
            "≤ 1.2 (the thread made beforehand)",
            lambda v: v <= 1.2,
        ),
        _entry(
            "durable step, HandrailSaver, sync (bare 8-step graph)",
            _get(steps, "HandrailSaver/sync", "ms_per_step"),
            "ms",
            "≤ 1.2",
            lambda v: v <= 1.2,
        ),
        _entry(
            "durable step, HandrailSaver, async (bare 8-step graph)",
            _get(steps, "HandrailSaver/async", "ms_per_step"),
            "ms",
            "≤ 1.2 (async: commit overlaps next)",
            lambda v: v <= 1.2,
        ),
        _entry(
            "durable step, stock AsyncPostgresSaver, sync",
            _get(steps, "AsyncPostgresSaver/sync", "ms_per_step"),
            "ms",
            "reference (field notes: 2.3–2.9)",
            None,
        ),
        _entry(
            "crash recovery: kill → all runs final",
            _get(recovery, "all_final_s"),
            "s",
            "≤ 10",
            lambda v: v <= 10,
        ),
        _entry(
            "storage: bytes added per turn, turn 200 ÷ turn 40",
            _storage_figure(storage, "bytes"),
            "×",
            "≤ 2",
            lambda v: v <= 2,
        ),
        _entry(
            "tracing on ÷ off, HTTP@16 runs/s (issue 13)",
            _ratio(_get(tracing, "on", "runs_per_s"), _get(tracing, "off", "runs_per_s")),
            "×",
            "≥ 0.9",
            lambda v: v >= 0.9,
        ),
        _entry(
            "storage: turn time, turn 200 ÷ turn 40",
            _storage_figure(storage, "time"),
            "×",
            "≤ 1.5",
            lambda v: v <= 1.5,
        ),
    ]


def _storage_figure(storage: Any, what: str) -> float | None:
    """bench/storage.py names its ratios `ratio_bytes_per_turn_last_over_40` and `ratio_turn_time_last_over_40`."""
    if not isinstance(storage, dict):
        return None
    for key, value in storage.items():
        if key.startswith("ratio") and what in key and isinstance(value, int | float):
            return float(value)
    return None


# --- the table -------------------------------------------------------------------------------


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "-"


def _row(cell: str, config: str, f: dict[str, Any] | None = None, note: str = "") -> str:
    f = f or {}
    errors = f.get("errors")
    if errors:
        note = f"{note}  {errors} FAILED RUNS".strip()
    return (
        f"{cell:<28} {config:<40} {_num(f.get('runs_per_s'), '8.1f'):>8} {_num(f.get('p50_ms'), '8.1f'):>8} "
        f"{_num(f.get('p95_ms'), '8.1f'):>8}  {note}"
    ).rstrip()


def table(report: dict[str, Any]) -> str:
    meta, cells = report["meta"], report["cells"]
    lines = [
        f"Handrail bench  {meta['started_at']}  commit {meta['commit']}  cores (os.cpu_count()): {meta['cpu_count']}  "
        f"BENCH_REPEAT={meta['repeat']} (figures are medians over repetitions)",
        f"load average {_loads(meta.get('load_average_at_start'))} at start, "
        f"{_loads(meta.get('load_average_at_end'))} at end; working tree: {meta['commit']} plus "
        f"{len(meta.get('uncommitted', []))} uncommitted path(s) (listed in the JSON, meta.uncommitted)",
        f"{'cell':<28} {'configuration':<40} {'runs/s':>8} {'p50 ms':>8} {'p95 ms':>8}  notes",
    ]
    lines.append("-" * len(lines[-1]))
    for key, title, render in _SECTIONS:
        cell = cells.get(key)
        if cell is None:
            continue
        if not cell.get("ok"):
            lines.append(_row(title, "", None, f"FAILED: {cell.get('skipped') or cell.get('error')}"))
            continue
        lines += render(title, cell["result"])
    lines.append("")
    lines.append("targets (issue 12; printed, never asserted)")
    for r in report["ratios"]:
        value = _num(r["value"], ".2f")
        lines.append(f"  {r['name']:<56} {value:>7} {r['unit']:<2}  target {r['target']:<34} {r['status']}")
    return "\n".join(lines) + "\n"


def _loads(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _bare(title: str, result: dict[str, Any]) -> list[str]:
    pools = {"AsyncPostgresSaver": "; pool checks each checkout", "HandrailSaver": "; Handrail's pool"}
    return [
        _row(f"1 {title}", name, f, f"{f['ms_per_step']:.2f} ms/step{pools.get(name.split('/')[0], '')}")
        for name, f in result.items()
    ]


def _in_process(title: str, result: dict[str, Any]) -> list[str]:
    return [_row(f"2 {title}", name.removeprefix("graph, "), f) for name, f in result.items()]


def _http(title: str, result: dict[str, Any]) -> list[str]:
    rows = []
    for server, label in (("handrail", "3 Handrail over HTTP"), ("langgraph_dev", "4 langgraph dev")):
        facts = result.get(f"{server}_facts", {})
        serving = _get(facts, "processes", "serving")
        carried = facts.get("carried_over_state_bytes")
        note = (
            f"PROCESSES {facts.get('PROCESSES')}: {serving} serving"
            if server == "handrail"
            else f"in-memory runtime; state carried over {carried / 2**20:.1f} MiB"
            if isinstance(carried, int)
            else "in-memory runtime"
        )
        if server == "handrail" and _get(result, server, "wait") is not None:
            rows.append(_row(label, "runs.wait alone (thread made before), 1", _get(result, server, "wait"), ""))
        for concurrency in ("1", "16"):
            f = _get(result, server, concurrency)
            if f is None:
                rows.append(_row(label, f"{concurrency} at once", None, f"FAILED: {result.get(f'{server}_error')}"))
            else:
                cpu = "CPU ms/run: server {}, postgres {}, client {}; ".format(
                    *(_num(f.get(f"cpu_{k}_ms"), ".1f") for k in ("server", "postgres", "client"))
                )
                rows.append(_row(label, f"threads.create + runs.wait, {concurrency} at once", f, cpu + note))
    return rows


def _approvals(title: str, result: dict[str, Any]) -> list[str]:
    rows = []
    for key, label in (
        ("decided_to_running", "decided_at → resume run started_at (PG)"),
        ("decided_to_final", "decided_at → resume run ended_at (PG)"),
        ("post_to_running", "POST sent → started_at (one clock)"),
        ("post_to_final", "POST → join returned (client)"),
    ):
        if key in result:
            rows.append(_row(f"5 {title}", label, result[key], f"n={result['measured']}"))
    rows += [_row(f"5 {title}", "", None, f"FAILED: {failure}") for failure in result.get("failures", [])]
    return rows


def _recovery(title: str, result: dict[str, Any]) -> list[str]:
    return [
        _row(
            f"6 {title}",
            f"{result['runs_in_flight']} runs in flight, server SIGKILLed",
            None,
            f"all final {result['all_final_s']:.1f} s after the kill (restart {result['restart_s']:.1f} s); "
            f"{result['statuses']}",
        )
    ]


def _statements(title: str, result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return [_row(f"7 {title}", "", None, f"skipped: {result['skipped']}")]
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in result["per_run"].items())
    return [_row(f"7 {title}", f"total {result['total_per_run']:.1f} per run", None, kinds)]


def _storage(title: str, result: dict[str, Any]) -> list[str]:
    rows = []
    for point in result.get("curve", []):
        rows.append(
            _row(
                f"8 {title}",
                f"turn {point['turn']}",
                {"p50_ms": point.get("turn_ms")},
                f"{point['bytes_added_per_turn'] / 1024:.1f} KiB added/turn, "
                f"live {point['live_bytes'] / 2**20:.1f} MiB",
            )
        )
    if "database_bytes_on_disk" in result:
        disk = f"{result['database_bytes_on_disk'] / 2**20:.1f} MiB"
        rows.append(_row(f"8 {title}", "database on disk at the end", None, disk))
    return rows


def _abuse(title: str, result: dict[str, Any]) -> list[str]:
    return [
        _row(
            f"9 {title}",
            c["case"][:40],
            None,
            f"{c['status']} in {c['answered_ms']:.1f} ms; /ok meanwhile p50 {c['ok_p50_ms']:.1f} ms, "
            f"max {c['ok_max_ms']:.1f} ms",
        )
        for c in result["cases"]
    ]


def _tracing(title: str, result: dict[str, Any]) -> list[str]:
    return [
        _row(f"10 {title}", f"tracing {key}, threads.create + runs.wait, 16", result[key], note)
        for key, note in (("off", ""), ("on", f"to a local stand-in; {result.get('export_requests')} export requests"))
    ]


def _parallel(title: str, result: dict[str, Any]) -> list[str]:
    return [_row(f"11 {title}", name, f, f"slowest {f['max_ms']:.0f} ms") for name, f in result.items()]


_SECTIONS: list[tuple[str, str, Callable[[str, Any], list[str]]]] = [
    ("bare_langgraph", "bare LangGraph, 8 steps", _bare),
    ("in_process", "Handrail graph in-process", _in_process),
    ("http", "over HTTP", _http),
    ("approvals", "approval resume", _approvals),
    ("recovery", "crash recovery", _recovery),
    ("statements", "SQL statements per run", _statements),
    ("storage", "storage, one long thread", _storage),
    ("abuse", "hostile input", _abuse),
    ("tracing", "Langfuse tracing", _tracing),
    ("parallel", "two independent 300 ms steps", _parallel),
]


def write(report: dict[str, Any], started: datetime) -> Path:
    """bench/out/report-<UTC timestamp>.json, and the same as bench/out/latest.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"report-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    text = json.dumps(report, indent=2, default=str) + "\n"
    path.write_text(text)
    (OUT / "latest.json").write_text(text)
    return path
