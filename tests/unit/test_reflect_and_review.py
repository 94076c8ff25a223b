"""reflect's decisions and the validation of reviewer answers: pure logic, no I/O."""

from __future__ import annotations

import pytest

from graph.context import RunContext
from nodes.reflect import judge
from nodes.review import InvalidReview, approval_request, parse_review
from tools.registry import builtin_registry


def state(observations=(), cursor=1, plan_len=2, steps=1, replans=0, started=0.0):
    return {
        "observations": list(observations),
        "cursor": cursor,
        "plan": [{}] * plan_len,
        "steps": steps,
        "replans": replans,
        "clock_started_at": started,
    }


def obs(ok=True, status="done", tool="calculator", error=None):
    return {"step": 0, "tool": tool, "args": {}, "ok": ok, "status": status, "error": error, "feedback": None}


CTX = RunContext(max_steps=5, max_replans=2, run_timeout_s=60)


def test_continues_while_steps_remain_and_finishes_when_done():
    assert judge(state([obs()]), CTX, now=1).decision == "continue"
    assert judge(state([obs()], cursor=2), CTX, now=1).decision == "finish"


def test_a_failure_asks_for_a_replan_with_the_reason_until_the_limit():
    verdict = judge(state([obs(ok=False, status="failed", error="boom")]), CTX, now=1)
    assert verdict.decision == "replan" and "failed: boom" in verdict.feedback
    exhausted = judge(state([obs(ok=False, status="failed", error="boom")], replans=2), CTX, now=1)
    assert exhausted.decision == "finish" and "re-plan limit (2)" in exhausted.stop_reason


def test_limits_finish_the_run_with_a_reason():
    assert judge(state([obs()], steps=5, plan_len=9), CTX, now=1).stop_reason == "the step limit of 5 was reached"
    assert "run time limit" in judge(state([obs()]), CTX, now=61).stop_reason


def test_three_failures_in_a_row_is_no_progress():
    failures = [obs(ok=False, status="failed", error="x")] * 3
    assert judge(state(failures), CTX, now=1).stop_reason == "no progress: the last 3 steps all failed"


PENDING = {
    "call_id": "c1",
    "step": 1,
    "tool": "send_email",
    "purpose": "tell alice",
    "review": None,
    "args": {"to": "alice@example.com", "subject": "Hi", "body": "Hello"},
}


def test_the_approval_request_carries_what_a_reviewer_needs():
    request = approval_request(PENDING, builtin_registry())
    assert request["preview"] == "send email to alice@example.com, subject 'Hi': Hello"
    assert {"approval_id", "tool", "args", "risk", "purpose", "preview"} <= request.keys()


def test_edits_are_merged_and_revalidated():
    review = parse_review({"decision": "edit", "args": {"subject": "Hey"}}, PENDING, builtin_registry())
    assert review["args"] == {"to": "alice@example.com", "subject": "Hey", "body": "Hello"}
    with pytest.raises(InvalidReview, match="edited arguments are invalid"):
        parse_review({"decision": "edit", "args": {"subject": ""}}, PENDING, builtin_registry())


@pytest.mark.parametrize("value", [None, [], {"decision": "APPROVE"}, {"decision": "reject", "feedback": 3}])
def test_anything_but_a_valid_decision_is_refused(value):
    with pytest.raises(InvalidReview):
        parse_review(value, PENDING, builtin_registry())
