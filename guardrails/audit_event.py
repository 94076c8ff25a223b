"""What an audit record says: one event of the agent's or an operator's, as the `audit_log` table stores it.

A plain value with no I/O, so that graph/ and nodes/ can describe what happened (a tool call, a guardrail
block, a budget stop) and hand it to whatever sink the service gave them (handrail.audit.PostgresAudit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

# The kinds Handrail records; a sink stores any string, so a new kind needs no migration.
TOOL_CALL: Final = "tool_call"
APPROVAL_REQUESTED: Final = "approval_requested"
APPROVAL_DECIDED: Final = "approval_decided"
GUARDRAIL_BLOCK: Final = "guardrail_block"
BUDGET_STOP: Final = "budget_stop"
RATE_LIMITED: Final = "rate_limited"
SPEND_REFUSED: Final = "spend_refused"
SPEND_RESET: Final = "spend_reset"
KILL_SWITCH: Final = "kill_switch"

SYSTEM_ACTOR: Final = "handrail"  # the actor of what Handrail decided by itself (an expiry, a guardrail)


@dataclass(frozen=True)
class AuditEvent:
    """One audit record. `args` are stored redacted; `digest` (tools.gate.call_digest of the unredacted
    arguments) is what proves which exact call was approved or ran without keeping its data."""

    kind: str
    actor: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None
    digest: str | None = None
    outcome: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
