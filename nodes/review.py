"""What a reviewer is asked before a sensitive call, and how an answer is validated.

Shared by the approve node and the HTTP API, so a bad answer is refused the same way in both.
"""

from __future__ import annotations

import hashlib
from typing import Any

from graph.state import PendingCall, ReviewDecision
from tools.registry import Registry

DECISIONS = ("approve", "edit", "reject")
# Reviewer feedback is read by the planner and stored with the decision; more than this is not feedback.
MAX_FEEDBACK_CHARS = 5000


class InvalidReview(ValueError):
    """A resume value that is not a usable review decision; the message says how to fix it."""


def approval_id(call_id: str, asked_in: str = "") -> str:
    """One id per time a call is put to a reviewer. `asked_in` names where it was asked (the thread and
    the approve task), so the same call asked again in a copy or a fork of the thread is a new approval
    that needs a decision of its own, while a replay of the same pause keeps its id."""
    return "apr_" + hashlib.sha256(f"{asked_in}|{call_id}".encode()).hexdigest()[:24]


def approval_request(pending: PendingCall, registry: Registry, *, asked_in: str = "") -> dict[str, Any]:
    """The interrupt payload: everything a reviewer needs to approve, edit or reject the call."""
    spec = registry.get(pending["tool"])
    assert spec is not None, "execute only pends calls that passed validation"
    return {
        "type": "approval_request",
        "approval_id": approval_id(pending["call_id"], asked_in),
        "call_id": pending["call_id"],
        "tool": pending["tool"],
        "args": pending["args"],
        "risk": spec.risk,
        "purpose": pending["purpose"],
        "preview": spec.render_preview(spec.args_schema.model_validate(pending["args"])),
        "decisions": list(DECISIONS),
    }


def parse_review(
    value: Any, pending: PendingCall, registry: Registry, *, max_feedback_chars: int | None = MAX_FEEDBACK_CHARS
) -> ReviewDecision:
    """Validate a resume value `{"decision", "args"?, "feedback"?}`; raise InvalidReview otherwise.

    `edit` args are merged over the planned arguments (send only what changes) and re-validated.
    The args of an approve or edit come back canonical (validated, then dumped), so the decision
    recorded by the API and the call execute runs compare equal byte for byte.
    """
    if not isinstance(value, dict):
        raise InvalidReview(
            f"resume value must be an object like {{'decision': 'approve'}}, got {type(value).__name__}"
        )
    decision = value.get("decision")
    if decision not in DECISIONS:
        raise InvalidReview(f"decision must be one of approve, edit, reject; got {decision!r}")
    feedback = value.get("feedback")
    if feedback is not None and not isinstance(feedback, str):
        raise InvalidReview("feedback must be a string")
    if feedback is not None and max_feedback_chars is not None and len(feedback) > max_feedback_chars:
        raise InvalidReview(
            f"feedback is {len(feedback)} characters; at most {max_feedback_chars} are accepted (MAX_FEEDBACK_CHARS)"
        )
    if decision == "reject":
        return ReviewDecision(decision=decision, args=pending["args"], feedback=feedback)
    if decision == "approve":
        merged = pending["args"]
    else:
        edits = value.get("args")
        if not isinstance(edits, dict) or not edits:
            raise InvalidReview("an edit needs `args`: an object with the arguments to change")
        merged = {**pending["args"], **edits}
    check = registry.check(pending["tool"], merged)
    if check.args is None:
        what = "edited arguments" if decision == "edit" else "the planned arguments"
        raise InvalidReview(f"{what} are invalid: {check.error}")
    return ReviewDecision(decision=decision, args=check.args.model_dump(mode="json"), feedback=feedback)
