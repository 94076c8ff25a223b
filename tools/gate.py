"""The approval gate: the last check before a tool that requires approval runs.

Graph state cannot prove that a person approved a call: clients can update state, send commands,
copy threads and fork from old checkpoints. So the executing code asks a gate, and the gate answers
from records the client cannot write. The service's gate reads the decision a reviewer recorded
through the API (`handrail.approvals.PostgresApprovalGate`); the call runs only if that decision is
for this exact call and these exact arguments, and each decision admits one run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol


def call_digest(tool: str, args: dict[str, Any]) -> str:
    """What a decision is bound to: the tool and its canonical arguments (key order, spacing and
    escaping normalised), so that the approved call and the executed call compare equal iff they
    would do the same thing."""
    canonical = json.dumps([tool, args], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class GateCall:
    """The call about to run, as execute knows it. `args` are validated and canonical."""

    thread_id: str | None
    run_id: str | None
    call_id: str
    tool: str
    args: dict[str, Any]
    reviewed: str | None  # the decision the graph state carries (approve, edit), which is not proof


@dataclass(frozen=True)
class GateVerdict:
    admitted: bool
    reason: str | None = None
    approval_id: str | None = None
    decided_by: str | None = None


class ApprovalGate(Protocol):
    """Admits a call that requires approval, or says why not. Must not raise for a refusal."""

    async def admit(self, call: GateCall) -> GateVerdict: ...


class NoApprovalLedger:
    """The default: with nowhere to read decisions from, no sensitive call runs (fail closed)."""

    async def admit(self, call: GateCall) -> GateVerdict:
        return GateVerdict(
            False,
            f"{call.tool} requires approval and no approval ledger is configured, so it was not run",
        )


class InProcessApprovals:
    """For one trusted caller driving the graph in-process (`langgraph dev`, tests, notebooks): the
    reviewer's answer in the graph state is the decision. It still refuses a call nobody answered
    (a state update that skipped the approve node). Never use it behind an API that other people
    can reach: they can write graph state."""

    async def admit(self, call: GateCall) -> GateVerdict:
        if call.reviewed in ("approve", "edit"):
            return GateVerdict(True, decided_by="in-process")
        return GateVerdict(
            False, f"{call.tool} requires approval and no reviewer approved this call, so it was not run"
        )
