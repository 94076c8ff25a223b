"""Approval records: written when a run pauses before a sensitive tool, decided exactly once, and
consumed by the one run that executes the decided call.

A decision arrives either as POST /approvals/{id} or as `command.resume` on the runs API; both go
through `decide`, whose conditional UPDATE lets only the first decision win. The decision binds the
call id and a digest of the tool and the approved (or edited) arguments; `PostgresApprovalGate` is
what execute asks before such a tool runs, so nothing written into graph state can stand in for it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from guardrails.audit_event import APPROVAL_DECIDED, APPROVAL_REQUESTED, SYSTEM_ACTOR, AuditEvent
from handrail import audit, records
from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound
from handrail.wire import Timestamp
from tools.gate import GateCall, GateVerdict, call_digest

logger = logging.getLogger("handrail.approvals")

_COLUMNS = (
    "approval_id, thread_id, run_id, user_id, interrupt_id, tool, args, preview, risk, purpose, requested_by, "
    "status, decision, decided_by, reason, resume_run_id, created_at, expires_at, decided_at, notified_at, "
    "call_id, decided_args, consumed_by_run, consumed_at"
)
_STATUS_OF = {"approve": "approved", "edit": "edited", "reject": "rejected"}


ApprovalStatus = Literal["pending", "approved", "edited", "rejected", "expired"]


class Approval(BaseModel):
    """A tool call waiting for (or given) a person's decision, and the run that carried it out."""

    approval_id: str
    user_id: str = Field(description="Whose run asked.")
    interrupt_id: str = Field(description="The interrupt a `command.resume` answers.")
    tool: str
    args: dict[str, Any] = Field(description="The planned arguments.")
    preview: str = Field(description="What the call would do, in one line.")
    risk: str
    purpose: str | None
    requested_by: str
    status: ApprovalStatus
    decision: dict[str, Any] | None = Field(description="The reviewer's answer: `{decision, args?, feedback?}`.")
    decided_by: str | None
    reason: str | None
    call_id: str | None = Field(description="The tool call the decision is bound to.")
    decided_args: dict[str, Any] | None = Field(description="The arguments approved (edited ones after an edit).")
    thread_id: uuid.UUID
    run_id: uuid.UUID | None
    resume_run_id: uuid.UUID | None = Field(description="The run the decision resumed.")
    consumed_by_run: uuid.UUID | None = Field(description="The run that executed the decided call.")
    created_at: Timestamp
    expires_at: Timestamp
    decided_at: Timestamp | None
    notified_at: Timestamp | None
    consumed_at: Timestamp | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Approval:
        return cls(**{k: row[k] for k in cls.model_fields})


def approval_requests(interrupts: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(interrupt id, payload) of every pending interrupt that is an approval request."""
    return records.requests_of(interrupts, "approval_request")


async def record(
    pool: Pool,
    *,
    thread_id: str,
    run_id: str,
    user_id: str,
    interrupt_id: str,
    payload: dict[str, Any],
    ttl_s: float,
) -> dict[str, Any] | None:
    """Write the approval for a paused call, with its audit row in the same transaction; None when it was
    already recorded (a replayed run), and then no second audit row either."""
    digest = call_digest(payload["tool"], payload["args"])
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                f"INSERT INTO approvals (approval_id, thread_id, run_id, user_id, interrupt_id, tool, args, preview, "
                f"risk, purpose, requested_by, call_id, args_digest, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
                f"%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)) ON CONFLICT (approval_id) DO NOTHING "
                f"RETURNING {_COLUMNS}",
                (
                    payload["approval_id"],
                    thread_id,
                    run_id,
                    user_id,
                    interrupt_id,
                    payload["tool"],
                    Jsonb(payload["args"]),
                    payload["preview"],
                    payload["risk"],
                    payload.get("purpose"),
                    user_id,
                    payload["call_id"],
                    digest,
                    ttl_s,
                ),
            )
        ).fetchone()
        if row is not None:
            await audit.record(
                conn,
                AuditEvent(
                    kind=APPROVAL_REQUESTED,
                    actor=user_id,
                    thread_id=thread_id,
                    run_id=run_id,
                    tool=payload["tool"],
                    args=payload["args"],
                    digest=digest,
                    outcome="pending",
                    detail={
                        "approval_id": payload["approval_id"],
                        "call_id": payload["call_id"],
                        "risk": payload["risk"],
                    },
                ),
            )
    return row


async def get(pool: Pool, principal: Principal, approval_id: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = %s", (approval_id,))
        ).fetchone()
    if row is None or not principal.owns(row["user_id"]):
        raise NotFound(f"approval {approval_id} not found")
    return row


async def pending_for_thread(conn: AsyncConnection[DictRow], thread_id: Any) -> list[dict[str, Any]]:
    """The thread's undecided approvals, locked until the caller's transaction ends."""
    return await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE thread_id = %s AND status = 'pending' ORDER BY created_at "
            f"FOR UPDATE",
            (thread_id,),
        )
    ).fetchall()


async def find(conn: AsyncConnection[DictRow], approval_id: str) -> dict[str, Any] | None:
    return await (
        await conn.execute(f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = %s", (approval_id,))
    ).fetchone()


def already_decided(row: dict[str, Any]) -> Conflict:
    """The 409 for a second decision: who decided first, and when."""
    when = row["decided_at"].isoformat() if row["decided_at"] else "an unknown time"
    return Conflict(
        f"approval {row['approval_id']} was already decided ({row['status']}) by {row['decided_by']} at {when}; "
        "a decision applies once"
    )


async def search(
    pool: Pool,
    principal: Principal,
    *,
    status: str | None,
    thread_id: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    return await records.owned_search(
        pool, principal, table="approvals", columns=_COLUMNS, status=status, thread_id=thread_id, limit=limit,
        offset=offset,
    )  # fmt: skip


async def decide(
    conn: AsyncConnection[DictRow],
    approval: dict[str, Any],
    review: dict[str, Any],
    *,
    decided_by: str,
    reason: str | None = None,
    expired: bool = False,
) -> dict[str, Any]:
    """Record the decision if none was recorded yet; 409 otherwise. Runs inside the caller's transaction.

    `review` is validated (nodes.review.parse_review against the recorded call). An approve or edit
    binds the canonical arguments and their digest: the only call the gate will let run.
    """
    approval_id = approval["approval_id"]
    status = "expired" if expired else _STATUS_OF[review["decision"]]
    runs = review["decision"] in ("approve", "edit")
    digest = call_digest(approval["tool"], review["args"])
    # A savepoint inside the caller's transaction, a transaction of its own on an autocommit connection:
    # either way the decision and its audit row are written together or not at all.
    async with conn.transaction():
        row = await (
            await conn.execute(
                f"UPDATE approvals SET status = %s, decision = %s, decided_by = %s, reason = %s, decided_at = now(), "
                f"decided_args = %s, decided_digest = CASE WHEN %s THEN %s END "
                f"WHERE approval_id = %s AND status = 'pending' RETURNING {_COLUMNS}",
                (
                    status,
                    Jsonb(review),
                    decided_by,
                    reason,
                    Jsonb(review["args"]) if runs else None,
                    runs,
                    digest,
                    approval_id,
                ),
            )
        ).fetchone()
        if row is not None:
            await audit.record(
                conn,
                AuditEvent(
                    kind=APPROVAL_DECIDED,
                    actor=SYSTEM_ACTOR if expired else decided_by,  # an expiry is Handrail's decision
                    thread_id=str(row["thread_id"]),
                    run_id=str(row["run_id"]),
                    tool=row["tool"],
                    args=review["args"],
                    digest=digest,  # of the call the decision lets run (approve, edit) or refuses (reject)
                    outcome=status,
                    detail={
                        "approval_id": approval_id,
                        "call_id": row["call_id"],
                        "decision": review["decision"],
                        "decided_by": decided_by,
                        "feedback": review.get("feedback"),
                        "reason": reason,
                    },
                ),
            )
    if row is None:
        current = await find(conn, approval_id)
        if current is None:
            raise NotFound(f"approval {approval_id} not found")
        raise already_decided(current)
    return row


async def link_resume_run(conn: AsyncConnection[DictRow], approval_id: str, run_id: Any) -> None:
    await conn.execute("UPDATE approvals SET resume_run_id = %s WHERE approval_id = %s", (run_id, approval_id))


async def claim_unnotified(pool: Pool, stale_after_s: float, limit: int = 20) -> list[dict[str, Any]]:
    """Pending approvals whose notification never arrived and is not being sent right now, claimed."""
    return await records.claim_unnotified(
        pool, table="approvals", key="approval_id", columns=_COLUMNS, status="pending",
        stale_after_s=stale_after_s, limit=limit,
    )  # fmt: skip


async def mark_notified(pool: Pool, approval_id: str) -> None:
    await records.mark_notified(pool, table="approvals", key="approval_id", value=approval_id)


async def expired(pool: Pool, limit: int = 50) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        return await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE status = 'pending' AND expires_at < now() "
                f"ORDER BY expires_at LIMIT %s",
                (limit,),
            )
        ).fetchall()


class PostgresApprovalGate:
    """The service's gate: a call that requires approval runs only when the approvals table holds an
    approve or edit decision for this thread and call id whose digest equals the digest of the
    arguments about to run. The decision is consumed by the first run that executes it; only that
    run may use it again (a retry of the run after a crash, which the tool's idempotency key keeps
    from acting twice)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def admit(self, call: GateCall) -> GateVerdict:
        try:
            thread_id, run_id = uuid.UUID(call.thread_id or ""), uuid.UUID(call.run_id or "")
        except ValueError:  # not a service run: no thread or run of the service's own
            return GateVerdict(False, f"{call.tool} requires approval, and only a service run can execute it")
        digest = call_digest(call.tool, call.args)
        params = {"thread": thread_id, "call": call.call_id, "digest": digest, "run": run_id}
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_CONSUME, params)).fetchone()
            if row is not None:
                return GateVerdict(True, approval_id=row["approval_id"], decided_by=row["decided_by"])
            return GateVerdict(False, await self._why_not(conn, thread_id, call, digest))

    @staticmethod
    async def _why_not(conn: AsyncConnection[DictRow], thread_id: uuid.UUID, call: GateCall, digest: str) -> str:
        """A refusal the model and the operator can read: what the ledger holds for this call, if anything."""
        rows = await (
            await conn.execute(
                "SELECT approval_id, status, decided_digest, consumed_by_run FROM approvals "
                "WHERE thread_id = %s AND call_id = %s ORDER BY created_at DESC",
                (thread_id, call.call_id),
            )
        ).fetchall()
        prefix = f"{call.tool} was not run:"
        if not rows:
            return f"{prefix} no reviewer decision is recorded for this call"
        for row in rows:
            if row["status"] in ("approved", "edited") and row["decided_digest"] != digest:
                return f"{prefix} its arguments differ from those approved in {row['approval_id']}"
            if row["status"] in ("approved", "edited"):
                return f"{prefix} the decision {row['approval_id']} was already used by run {row['consumed_by_run']}"
        return f"{prefix} approval {rows[0]['approval_id']} is {rows[0]['status']}, not approved"


# One statement, so two runs racing for one decision cannot both take it: the row lock makes the
# second re-check `consumed_by_run`, which by then names the first.
_CONSUME = """
UPDATE approvals SET consumed_by_run = %(run)s, consumed_at = coalesce(consumed_at, now())
WHERE approval_id = (
    SELECT approval_id FROM approvals
    WHERE thread_id = %(thread)s AND call_id = %(call)s AND status IN ('approved', 'edited')
      AND decided_digest = %(digest)s AND (consumed_by_run IS NULL OR consumed_by_run = %(run)s)
    ORDER BY consumed_by_run IS NULL, decided_at
    LIMIT 1
    FOR UPDATE)
  AND (consumed_by_run IS NULL OR consumed_by_run = %(run)s)
RETURNING approval_id, decided_by
"""
