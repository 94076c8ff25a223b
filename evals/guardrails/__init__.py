"""The guardrail corpora (YAML next to this module) and the rates the pure checks reach on them.

`injections()`, `benign()`, `tool_outputs()` and `holdout()` return the entries as written; `input_rates`
and `tool_output_rates` run the checks over them. `python -m evals.guardrails` prints the rates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from guardrails import input as input_guardrail
from guardrails import tool_output

HERE = Path(__file__).parent
# Far above any corpus entry: the corpora measure the content rules, not the length bound.
MAX_CHARS = 100_000


@cache
def _load(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def injections() -> list[dict[str, str]]:
    """Prompt-injection attempts, each {text, kind}: the input guardrail must block them."""
    return list(_load("injections.yaml"))


def benign() -> list[dict[str, str]]:
    """Ordinary requests written to trip naive patterns, each {text, why}: the input guardrail must pass them."""
    return list(_load("benign.yaml"))


def tool_outputs() -> dict[str, list[dict[str, Any]]]:
    """{"injections": [{data, kind}], "ordinary": [{data, why}]}: tool results to defuse, and to leave alone."""
    data = _load("tool_outputs.yaml")
    return {"injections": list(data["injections"]), "ordinary": list(data["ordinary"])}


def holdout() -> dict[str, list[dict[str, str]]]:
    """{"injections": [...], "benign": [...]}: written after the rules, never used to tune them."""
    data = _load("holdout.yaml")
    return {"injections": list(data["injections"]), "benign": list(data["benign"])}


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.total} = {self.rate:.1%}"


def blocked(text: str) -> bool:
    return input_guardrail.check(text, max_chars=MAX_CHARS).blocked


def input_rates(entries: list[dict[str, str]]) -> tuple[Rate, dict[str, Rate], list[dict[str, str]]]:
    """Share of `entries` the input guardrail blocks: overall, per kind (entries without one: "all"),
    and the entries it blocked."""
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    hit: list[dict[str, str]] = []
    for entry in entries:
        counts = per_kind[entry.get("kind", "all")]
        counts[1] += 1
        if blocked(entry["text"]):
            counts[0] += 1
            hit.append(entry)
    overall = Rate(len(hit), len(entries))
    return overall, {k: Rate(*v) for k, v in sorted(per_kind.items())}, hit


def defused(data: Any) -> bool:
    """Whether the tool-output guardrail changed `data` because of instruction-like text."""
    verdict = tool_output.check(data, max_chars=MAX_CHARS)
    return "injection" in verdict.flags


def unchanged(data: Any) -> bool:
    verdict = tool_output.check(data, max_chars=MAX_CHARS)
    return verdict.value is data and not verdict.flags


def tool_output_rates() -> tuple[Rate, Rate, list[Any], list[Any]]:
    """(injections neutralised, ordinary outputs altered, the missed injections, the altered ordinary outputs)."""
    corpus = tool_outputs()
    missed = [e for e in corpus["injections"] if not defused(e["data"])]
    altered = [e for e in corpus["ordinary"] if not unchanged(e["data"])]
    n_inj, n_ord = len(corpus["injections"]), len(corpus["ordinary"])
    return Rate(n_inj - len(missed), n_inj), Rate(len(altered), n_ord), missed, altered
