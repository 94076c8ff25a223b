"""`python -m evals [--model provider:name] [--only ID] [--category C] [--cases PATH] [--report PATH]`: run the
eval cases through the real service, print each case and the totals, write a JSON report, and exit 1 when
fewer than GATE_PERCENT of the cases pass. `python -m evals diff A B`: the cases whose result changed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.cases import CASES_DIR, CATEGORIES, CaseFileError, load_cases
from evals.runner import CaseResult, run_cases

GATE_PERCENT = 80.0
OUT_DIR = Path(__file__).parent / "out"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _rate(hit: int, total: int) -> float | None:
    return round(100 * hit / total, 1) if total else None


def totals(results: list[CaseResult]) -> dict[str, Any]:
    passed = sum(r.passed for r in results)
    per_category = {}
    for category in CATEGORIES:
        mine = [r for r in results if r.category == category]
        if mine:
            won = sum(r.passed for r in mine)
            per_category[category] = {"passed": won, "total": len(mine), "rate": _rate(won, len(mine))}
    attacks = [r for r in results if r.category == "guardrail_block"]
    benign = [r for r in results if r.category == "guardrail_benign"]
    return {
        "passed": passed,
        "total": len(results),
        "rate": _rate(passed, len(results)) or 0.0,
        "per_category": per_category,
        "guardrail_block_rate": _rate(sum(r.blocked for r in attacks), len(attacks)),
        "guardrail_false_block_rate": _rate(sum(r.blocked for r in benign), len(benign)),
        "steps": sum(r.steps for r in results),
        "tokens": sum(r.tokens for r in results),
        "cost_usd": round(sum(r.cost_usd for r in results), 6),
        "approvals": sum(r.approvals for r in results),
        "latency_ms": round(sum(r.latency_ms for r in results), 1),
    }


def print_results(results: list[CaseResult], summary: dict[str, Any]) -> None:
    width = max((len(r.id) for r in results), default=10)
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        _out(
            f"{verdict} {r.id:<{width}} {r.category:<16} steps={r.steps} tokens={r.tokens} cost=${r.cost_usd:.4f} "
            f"latency={r.latency_ms:.0f}ms approvals={r.approvals} outcome={','.join(r.outcomes)}"
        )
        for reason in r.reasons:
            _out(f"     - {reason}")
    _out()
    for category, figures in summary["per_category"].items():
        _out(f"{category:<18} {figures['passed']}/{figures['total']} ({figures['rate']}%)")

    def shown(rate: float | None) -> str:
        return "n/a" if rate is None else f"{rate}%"

    _out(
        f"guardrail block rate {shown(summary['guardrail_block_rate'])}, "
        f"false-block rate {shown(summary['guardrail_false_block_rate'])}"
    )
    _out(
        f"steps {summary['steps']}, tokens {summary['tokens']}, cost ${summary['cost_usd']:.4f}, "
        f"approvals {summary['approvals']}, latency {summary['latency_ms'] / 1000:.1f} s in all"
    )


def write_report(path: Path, results: list[CaseResult], summary: dict[str, Any], model: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "created_at": datetime.now(UTC).isoformat(),
        "model": model or "offline",
        "totals": summary,
        "cases": [r.to_json() for r in results],
    }
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


async def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    parser.add_argument("--model", help="provider:name for the planner, executor and answer (default: offline)")
    parser.add_argument("--only", action="append", default=[], metavar="ID", help="run only this case (repeatable)")
    parser.add_argument("--category", action="append", default=[], choices=CATEGORIES, help="run only this category")
    parser.add_argument("--cases", type=Path, default=CASES_DIR, help="a case file or a folder of them")
    parser.add_argument("--report", type=Path, help="where to write the JSON report (default: evals/out/)")
    parser.add_argument("--database-url", help="an existing, migrated-or-empty database (default: a fresh one)")
    args = parser.parse_args(argv)
    try:
        cases = load_cases(args.cases)
    except CaseFileError as exc:
        _out(f"eval: refused a case file: {exc}")
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {c.id for c in cases})
        if unknown:
            _out(f"eval: no case with id {', '.join(unknown)} in {args.cases}")
            return 2
        cases = [c for c in cases if c.id in args.only]
    if args.category:
        cases = [c for c in cases if c.category in args.category]
    if not cases:
        _out(f"eval: no cases to run in {args.cases}")
        return 2
    results = await run_cases(cases, model=args.model, database_url=args.database_url)
    summary = totals(results)
    print_results(results, summary)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = args.report or OUT_DIR / f"report-{stamp}.json"
    write_report(report, results, summary, args.model)
    _out(f"report: {report}")
    _out(f"eval: {summary['passed']}/{summary['total']} passed ({summary['rate']}%)")
    return 0 if summary["rate"] >= GATE_PERCENT else 1


def diff(a: Path, b: Path) -> int:
    """The cases whose pass/fail or reasons differ between two reports (and those only one of them ran)."""
    before = {c["id"]: c for c in json.loads(a.read_text(encoding="utf-8"))["cases"]}
    after = {c["id"]: c for c in json.loads(b.read_text(encoding="utf-8"))["cases"]}
    changed = 0
    for case_id in sorted(before.keys() | after.keys()):
        old, new = before.get(case_id), after.get(case_id)
        if old is None or new is None:
            changed += 1
            _out(f"{'added  ' if old is None else 'removed'} {case_id}")
            continue
        if old["passed"] == new["passed"] and old["reasons"] == new["reasons"]:
            continue
        changed += 1
        verdict = {True: "PASS", False: "FAIL"}
        _out(f"{verdict[old['passed']]} -> {verdict[new['passed']]} {case_id} ({new['category']})")
        for reason in old["reasons"]:
            if reason not in new["reasons"]:
                _out(f"     - was: {reason}")
        for reason in new["reasons"]:
            if reason not in old["reasons"]:
                _out(f"     + now: {reason}")
    totals_a, totals_b = (json.loads(p.read_text(encoding="utf-8"))["totals"] for p in (a, b))
    _out(
        f"eval-diff: {changed} case(s) changed; {totals_a['passed']}/{totals_a['total']} ({totals_a['rate']}%) -> "
        f"{totals_b['passed']}/{totals_b['total']} ({totals_b['rate']}%)"
    )
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["diff"]:
        if len(argv) != 3:
            _out("usage: python -m evals diff REPORT_A REPORT_B")
            return 2
        return diff(Path(argv[1]), Path(argv[2]))
    return asyncio.run(run(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
