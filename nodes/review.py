"""What a reviewer is asked before a sensitive call, and how an answer is validated.

Shared by the approve node and the HTTP API, so a bad answer is refused the same way in both.
"""

from __future__ import annotations

import hashlib
from typing import Any

from graph.state import PendingCall, ReviewDecision
from tools.registry import Registry

DECISIONS = ("approve", "edit", "reject")


class InvalidReview(ValueError):
    """A resume value that is not a usable review decision; the message says how to fix it."""


def approval_id(call_id: str) -> str:
    return "apr_" + hashlib.sha256(call_id.encode()).hexdigest()[:24]


def approval_request(pending: PendingCall, registry: Registry) -> dict[str, Any]:
    """The interrupt payload: everything a reviewer needs to approve, edit or reject the call."""
    spec = registry.get(pending["tool"])
    assert spec is not None, "execute only pends calls that passed validation"
    return {
        "type": "approval_request",
        "approval_id": approval_id(pending["call_id"]),
        "call_id": pending["call_id"],
        "tool": pending["tool"],
        "args": pending["args"],
        "risk": spec.risk,
        "purpose": pending["purpose"],
        "preview": spec.render_preview(spec.args_schema.model_validate(pending["args"])),
        "decisions": list(DECISIONS),
    }


def parse_review(value: Any, pending: PendingCall, registry: Registry) -> ReviewDecision:
    """Validate a resume value `{"decision", "args"?, "feedback"?}`; raise InvalidReview otherwise.

    `edit` args are merged over the planned arguments (send only what changes) and re-validated.
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
    if decision != "edit":
        return ReviewDecision(decision=decision, args=pending["args"], feedback=feedback)
    edits = value.get("args")
    if not isinstance(edits, dict) or not edits:
        raise InvalidReview("an edit needs `args`: an object with the arguments to change")
    merged = {**pending["args"], **edits}
    check = registry.check(pending["tool"], merged)
    if check.args is None:
        raise InvalidReview(f"edited arguments are invalid: {check.error}")
    return ReviewDecision(decision="edit", args=check.args.model_dump(mode="json"), feedback=feedback)
