"""The checks of one turn: its trajectory (agentevals' trajectory match evaluator) and its answer and outcome.

A turn is observed as `TurnFacts` (what ran, what the answer said, how the turn ended); `score_turn`
returns the reasons it fails, empty when every listed check holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from agentevals.trajectory.match import create_trajectory_match_evaluator

from evals.cases import Expect

# Our `subset` is "these ran, maybe more": the run's trajectory is a *superset* of the expected one,
# which is agentevals' `superset` mode (its `subset` is the other way round: nothing beyond the reference).
AGENTEVALS_MODE = {"strict": "strict", "unordered": "unordered", "subset": "superset"}
CALLED = ("done", "failed")  # a skipped or rejected step was not called
SAYS_FAILED = ("fail", "did not succeed", "timed out", "error", "crash")


@dataclass
class TurnFacts:
    """What one turn did, read from the API."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    door_blocked: bool = False
    """Refused at the door: 400 with `blocked: true`; no run exists."""
    blocked: bool = False
    guardrail: str | None = None
    stop_reason: str | None = None
    paused: bool = False
    approvals: int = 0
    error: str | None = None
    """The API answered something the runner did not expect (a 5xx, a 4xx that is no guardrail)."""
    handoff: dict[str, Any] | None = None
    """The handoff the turn ended in (GET /handoffs/{id}), when it was handed to a person."""

    @property
    def called(self) -> list[str]:
        return [o["tool"] for o in self.observations if o.get("status") in CALLED]

    @property
    def outcome(self) -> str:
        """How the turn ended, in the schema's words; `failed_silently` and `no_answer` match no outcome."""
        if self.error:
            return "error"
        if self.door_blocked or (self.blocked and not self.stop_reason):
            return "blocked"
        if self.handoff is not None:
            return "handed_off"
        if self.paused:
            return "paused"
        if self.stop_reason:
            return "limit_reached"
        failed = [o for o in self.observations if o.get("status") == "failed"]
        if failed:
            low = self.answer.lower()
            said = any(o["tool"].lower() in low for o in failed) or any(w in low for w in SAYS_FAILED)
            return "failed" if said else "failed_silently"
        return "answered" if self.answer.strip() else "no_answer"


def outcome_holds(expected: str, facts: TurnFacts) -> bool:
    if expected == "blocked":  # a budget stop is `blocked` in the output as well as a limit
        return facts.door_blocked or facts.blocked
    if expected == "limit_reached":
        return bool(facts.stop_reason) and not facts.paused
    return facts.outcome == expected


@cache
def _trajectory_evaluator(mode: str) -> Any:
    return create_trajectory_match_evaluator(trajectory_match_mode=AGENTEVALS_MODE[mode], tool_args_match_mode="ignore")  # type: ignore[arg-type]


def _as_messages(tools: list[str]) -> list[dict[str, Any]]:
    """A trajectory as OpenAI messages, one assistant message per call so that `strict` also checks the order."""
    return [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": "{}"}}],
        }
        for i, name in enumerate(tools)
    ]


def trajectory_matches(called: list[str], expected: list[str], mode: str) -> bool:
    result = _trajectory_evaluator(mode)(outputs=_as_messages(called), reference_outputs=_as_messages(expected))
    return bool(result["score"])


def score_turn(expect: Expect | None, facts: TurnFacts) -> list[str]:
    """The reasons this turn fails its checks (empty: it passes)."""
    if facts.error:
        return [f"error: {facts.error}"]
    if expect is None:
        return []
    reasons = []
    called = facts.called
    if expect.tools is not None and not trajectory_matches(called, expect.tools, expect.tools_match):
        reasons.append(f"tools ({expect.tools_match}): expected {json.dumps(expect.tools)}, ran {json.dumps(called)}")
    if expect.approvals is not None and facts.approvals != expect.approvals:
        reasons.append(f"approvals: expected {expect.approvals}, asked {facts.approvals}")
    low = facts.answer.lower()
    missing = [s for s in expect.contains if s.lower() not in low]
    if missing:
        reasons.append(f"answer lacks {json.dumps(missing)}")
    present = [s for s in expect.not_contains if s.lower() in low]
    if present:
        reasons.append(f"answer contains {json.dumps(present)}")
    ran = sorted({o["tool"] for o in facts.observations if o["tool"] in expect.not_run and o.get("ok")})
    if ran:
        reasons.append(f"ran {json.dumps(ran)} which must not run")
    signal = (facts.handoff or {}).get("signal")
    if expect.handoff is not None and signal != expect.handoff:
        reasons.append(f"handoff: expected {expect.handoff}, got {signal or 'none'}")
    summary = str(((facts.handoff or {}).get("packet") or {}).get("summary") or "").lower()
    unsaid = [s for s in expect.packet_contains if s.lower() not in summary]
    if unsaid:
        reasons.append(f"handoff packet lacks {json.dumps(unsaid)}")
    if expect.outcome is not None and not outcome_holds(expect.outcome, facts):
        detail = f" ({facts.guardrail or facts.stop_reason})" if facts.guardrail or facts.stop_reason else ""
        reasons.append(f"outcome: expected {expect.outcome}, got {facts.outcome}{detail}")
    return reasons
