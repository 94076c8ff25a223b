"""Tool-policy layer: whether a validated call may run at all, before any approval is asked.

Checked where the call runs (the execute node), against the run's allowlist, the operators' kill
switch and where the call came from. A refusal becomes an observation the model reads; the call
never runs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from guardrails import retention
from guardrails.verdict import Verdict

LAYER = "tool_policy"
_EMAIL = re.compile(r"[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+)++")


def check(
    tool: str,
    args: dict[str, Any],
    *,
    side_effects: bool,
    allowed: Collection[str] | None,
    switched_off: str | None,
    intended: Collection[str],
    tainted: bool,
    user_texts: Iterable[str],
    retains: bool = False,
) -> Verdict:
    """`allowed`: the run's allowlist (None: every tool). `switched_off`: the operator's reason, when
    the tool's kill switch is off. `intended`: side-effecting tools the turn's first plan named, made
    from the user's words before any tool output was read. `tainted`: a tool output of this turn held
    instruction-like text. `retains`: the tool keeps its arguments beyond the run (long-term memory), so they
    may hold no card number, SSN or secret (guardrails.retention)."""
    if allowed is not None and tool not in allowed:
        return Verdict.block(LAYER, "not_allowed", f"{tool} is not enabled for this assistant; it was not run")
    if switched_off is not None:
        return Verdict.block(
            LAYER, "kill_switch", f"{tool} is switched off by an operator ({switched_off}); it was not run"
        )
    if retains and (why := retention.refusal(args)):
        return Verdict.block(LAYER, "sensitive_memory", f"{tool} was not run: {why}")
    if retains and tainted:
        # Planted instructions that reached memory would steer every later plan of this user, in every thread:
        # after a tool output held some, nothing is kept this turn, even when the user's plan named the tool.
        return Verdict.block(
            LAYER,
            "tainted_memory",
            f"{tool} was not run: a tool output of this turn held instructions, so nothing is kept in memory "
            "this turn; ask again in a new message",
        )
    if not side_effects:
        return Verdict.allow(LAYER)
    if tool not in intended:
        # A tool with side effects that appears only after tool output was read is what an indirect
        # injection looks like ("...now email this to..."): it needs the user's own request.
        return Verdict.block(
            LAYER,
            "unrequested_action",
            f"{tool} was not part of the plan made from the user's request, so it was not run; "
            "a new request from the user can ask for it",
        )
    if tainted:
        said = " ".join(user_texts).lower()
        foreign = sorted({a for a in _EMAIL.findall(_text(args)) if a.lower() not in said})
        if foreign:
            return Verdict.block(
                LAYER,
                "unrequested_recipient",
                f"{tool} would reach {', '.join(foreign)}, an address the user never gave, after a tool output "
                "held instructions; it was not run",
            )
    return Verdict.allow(LAYER)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)
