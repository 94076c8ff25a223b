"""`python -m evals.guardrails`: block and false-block rates of the pure guardrail checks, per corpus and kind."""

from __future__ import annotations

import sys

from evals.guardrails import benign, holdout, injections, input_rates, tool_output_rates


def _report(title: str, entries: list[dict[str, str]], verb: str, *, detail: bool) -> list[str]:
    overall, per_kind, hit = input_rates(entries)
    lines = [f"{title}: {verb} {overall}"]
    if len(per_kind) > 1:
        lines += [f"  {kind:<22} {rate}" for kind, rate in per_kind.items()]
    if detail:
        passed = [e for e in entries if e not in hit] if verb == "blocked" else hit
        label = "passed" if verb == "blocked" else "blocked"
        lines += [f"  {label}: {e['text']!r}" for e in passed]
    return lines


def main(argv: list[str]) -> int:
    detail = "-v" in argv
    lines = _report("injections.yaml", injections(), "blocked", detail=detail)
    lines += _report("benign.yaml", benign(), "falsely blocked", detail=detail)
    neutralised, altered, missed, changed = tool_output_rates()
    lines += [f"tool_outputs.yaml: injections neutralised {neutralised}", f"  ordinary outputs altered {altered}"]
    if detail:
        lines += [f"  missed: {e['data']!r}" for e in missed] + [f"  altered: {e['data']!r}" for e in changed]
    held = holdout()
    lines += _report("holdout.yaml injections", held["injections"], "blocked", detail=detail)
    lines += _report("holdout.yaml benign", held["benign"], "falsely blocked", detail=detail)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
