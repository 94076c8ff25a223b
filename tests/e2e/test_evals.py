"""The eval runner (issue 16) end to end: it runs cases through the real server on a fresh database and
passes them; a planner that drops the search step makes the gate fail; a malformed case file is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evals.__main__ import run
from evals.cases import CASES_DIR, CATEGORIES, CaseFileError, load_cases
from llm import offline_rules

CORE = CASES_DIR / "core.yaml"
GATE_LINE = re.compile(r"^eval: (\d+)/(\d+) passed \((\d+(?:\.\d+)?)%\)$")


def last_line(captured: str) -> str:
    return captured.strip().splitlines()[-1]


@pytest.mark.timeout(60)
async def test_the_runner_passes_a_handful_of_core_cases(capsys, tmp_path):
    handful = [
        "core-kb-refund-window",
        "core-approval-approved-email",
        "core-approval-waits-for-reviewer",
        "core-tool-failure-readable-error",
        "core-limits-step-cap",
        "core-multi-turn-two-questions",
        "core-guardrail-blocks-override",
    ]
    report = tmp_path / "report.json"
    argv = ["--cases", str(CORE), "--report", str(report)] + [a for i in handful for a in ("--only", i)]

    code = await run(argv)

    out = capsys.readouterr().out
    assert code == 0, out
    assert last_line(out) == f"eval: {len(handful)}/{len(handful)} passed (100.0%)"
    data = json.loads(report.read_text())
    assert {c["id"] for c in data["cases"]} == set(handful)
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id["core-approval-approved-email"]["approvals"] == 1
    assert by_id["core-approval-approved-email"]["tools"] == [["search_docs", "send_email"]]
    assert by_id["core-approval-waits-for-reviewer"]["outcomes"] == ["paused"]
    assert by_id["core-guardrail-blocks-override"]["outcomes"] == ["blocked"]
    assert data["totals"]["guardrail_block_rate"] == 100.0
    assert by_id["core-kb-refund-window"]["tokens"] > 0


@pytest.mark.timeout(60)
async def test_a_planner_that_drops_the_search_step_fails_the_gate(capsys, monkeypatch, tmp_path):
    real_plan_steps = offline_rules.plan_steps

    def without_search(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return [s for s in real_plan_steps(*args, **kwargs) if s["tool"] != "search_docs"]

    monkeypatch.setattr(offline_rules, "plan_steps", without_search)

    code = await run(["--category", "knowledge_base", "--report", str(tmp_path / "report.json")])

    out = capsys.readouterr().out
    gate = GATE_LINE.match(last_line(out))
    assert gate is not None, out
    assert float(gate.group(3)) < 80 and code == 1, out
    assert "ran []" in out, "the failing cases say the search step did not run"


def test_a_malformed_case_file_is_refused_naming_file_case_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- id: fine-case\n  category: knowledge_base\n  turns: [{user: hi}]\n"
        "- id: broken-case\n  category: knowledge_base\n  turns:\n"
        "    - user: hi\n      expect: {outcome: finished}\n"
    )

    with pytest.raises(CaseFileError) as refused:
        load_cases(bad)

    message = str(refused.value)
    assert str(bad) in message and "'broken-case'" in message and "turns.0.expect.outcome" in message


async def test_the_command_refuses_a_malformed_file_before_starting_anything(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: Not_Kebab\n  category: knowledge_base\n  turns: [{user: hi}]\n")

    assert await run(["--cases", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "bad.yaml" in out and "field id" in out and "kebab-case" in out


def test_every_shipped_case_file_loads():
    cases = load_cases(CASES_DIR)
    assert len({c.id for c in cases}) == len(cases) >= 12
    assert {c.category for c in cases if c.file == Path(CORE).name} == set(CATEGORIES), "core covers every category"
