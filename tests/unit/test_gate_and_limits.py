"""Pure rules behind the approval promise: call digests, the in-process gate, the refused state writes,
and run limits that can only narrow."""

from __future__ import annotations

import pytest

from graph.context import LimitError, RunContext
from handrail.errors import Conflict
from handrail.state import refuse_review_bypass
from tools.gate import GateCall, InProcessApprovals, NoApprovalLedger, call_digest

ARGS = {"to": "alice@example.com", "subject": "Hi", "body": "x"}


def test_a_digest_ignores_key_order_and_changes_with_any_argument():
    assert call_digest("send_email", ARGS) == call_digest("send_email", dict(reversed(list(ARGS.items()))))
    assert call_digest("send_email", ARGS) != call_digest("send_email", {**ARGS, "to": "bob@example.com"})
    assert call_digest("send_email", ARGS) != call_digest("create_ticket", ARGS)


def call(reviewed: str | None) -> GateCall:
    return GateCall("t", "r", "call_1", "send_email", ARGS, reviewed=reviewed)


async def test_the_in_process_gate_admits_only_a_call_a_reviewer_answered():
    gate = InProcessApprovals()
    assert (await gate.admit(call("approve"))).admitted
    assert (await gate.admit(call("edit"))).admitted
    refused = await gate.admit(call(None))
    assert not refused.admitted and "no reviewer approved" in str(refused.reason)


async def test_without_a_ledger_nothing_sensitive_runs():
    verdict = await NoApprovalLedger().admit(call("approve"))
    assert not verdict.admitted and "no approval ledger" in str(verdict.reason)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"values": {"pending": None}}, "'pending'"),
        ({"values": [("pending", {})]}, "'pending'"),
        ({"values": {}, "as_node": "approve"}, "as node 'approve'"),
        ({"goto": "execute"}, "goto to 'execute'"),
        ({"goto": {"node": "approve", "input": {}}}, "goto to 'approve'"),
        ({"goto": ["reflect", "execute"]}, "goto to 'execute'"),
    ],
)
def test_writes_that_would_bypass_the_reviewer_are_refused(kwargs, says):
    with pytest.raises(Conflict, match=says):
        refuse_review_bypass(**kwargs)


def test_ordinary_state_writes_and_jumps_pass():
    refuse_review_bypass(values={"messages": []}, as_node="synthesize")
    refuse_review_bypass(goto="synthesize")
    refuse_review_bypass(values=None, goto=[])


CEILING = RunContext(max_steps=8, max_replans=2, tool_timeout_s=10, run_timeout_s=300)


def test_limits_narrow_and_other_keys_are_left_alone():
    narrowed = CEILING.narrowed({"max_steps": 3, "run_timeout_s": 12.5, "user_id": "mallory", "tone": "brief"})
    assert (narrowed.max_steps, narrowed.run_timeout_s, narrowed.user_id) == (3, 12.5, CEILING.user_id)


@pytest.mark.parametrize(
    ("requested", "says"),
    [
        ({"max_steps": 1_000_000}, "ceiling of 8 (MAX_STEPS)"),
        ({"max_replans": 3}, "ceiling of 2 (MAX_REPLANS)"),
        ({"tool_timeout_s": 11}, "ceiling of 10 (TOOL_TIMEOUT_S)"),
        ({"max_steps": 0}, "whole number of at least 1"),
        ({"max_steps": 2.5}, "whole number"),
        ({"max_steps": True}, "whole number"),
        ({"max_steps": "5"}, "whole number"),
        ({"run_timeout_s": float("inf")}, "number of at least"),
        ({"max_replans": -1}, "at least 0"),
    ],
)
def test_a_wider_or_unusable_limit_is_refused_naming_the_ceiling(requested, says):
    with pytest.raises(LimitError, match=says.replace("(", r"\(").replace(")", r"\)")):
        CEILING.narrowed(requested)
