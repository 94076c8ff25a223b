"""Handoff records: written when a run pauses with the conversation handed to a person, answered by that person
(replies, then resolve or return), and read by the `human` node through `PostgresHandoffLedger`.

A person's answer goes through POST /handoffs/{id}/reply|resolve|return only: the reply or the closing is
recorded in the transaction that queues the run resuming the thread, and the node shows only what is recorded.
A `command.resume` from the runs API on a thread with an open handoff is refused (handrail.runs.service), so
no resume value can stand in for a person.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from guardrails.audit_event import AuditEvent
from handrail import audit, records
from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound
from handrail.wire import Timestamp
from tools.handoff_gate import HandoffAnswer

HANDOFF_REQUESTED = "handoff_requested"
HANDOFF_ANSWERED = "handoff_answered"

_COLUMNS = (
    "handoff_id, thread_id, run_id, user_id, interrupt_id, signal, reason, priority, packet, conversation, status, "
    "closed_by, closing_message, created_at, first_reply_at, closed_at, notified_at"
)
_CLOSED = {"resolve": "resolved", "return": "returned"}

HandoffStatus = Literal["open", "resolved", "returned"]


class HandoffReply(BaseModel):
    """What a person wrote to the user; appended to the thread as their message."""

    reply_id: str
    author: str
    message: str
    run_id: uuid.UUID | None = Field(description="The run that put the reply in the thread.")
    created_at: Timestamp


class Handoff(BaseModel):
    """A conversation handed to a person: why, how urgent, what they are told, and what they answered."""

    handoff_id: str
    thread_id: uuid.UUID
    run_id: uuid.UUID | None = Field(description="The run that handed the conversation over.")
    user_id: str = Field(description="Whose conversation it is.")
    signal: str = Field(
        description="What fired: asked_for_human, negative_sentiment, low_confidence, high_stakes, "
        "consecutive_failures or guardrail."
    )
    reason: str
    priority: str = Field(description="low, normal, high or urgent (HANDOFF_SIGNALS).")
    status: HandoffStatus
    packet: dict[str, Any] = Field(
        description="For the person: `wants`, `earlier_requests`, `tried` (each step and what it returned), "
        "`open`, `next_action`, `summary`."
    )
    conversation: list[dict[str, Any]] = Field(description="The conversation when it was handed over: role, content.")
    replies: list[HandoffReply] = Field(default_factory=list)
    closed_by: str | None
    closing_message: str | None
    created_at: Timestamp
    first_reply_at: Timestamp | None
    closed_at: Timestamp | None
    notified_at: Timestamp | None

    @classmethod
    def from_row(cls, row: dict[str, Any], replies: list[dict[str, Any]] | None = None) -> Handoff:
        fields = {k: row[k] for k in cls.model_fields if k != "replies"}
        return cls(**fields, replies=[HandoffReply(**r) for r in replies or []])


def handoff_requests(interrupts: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(interrupt id, payload) of every pending interrupt that is a handoff."""
    return records.requests_of(interrupts, "handoff")


def conversation_of(values: Any) -> list[dict[str, Any]]:
    """The thread's messages (as the state's JSON holds them) as role, content and name."""
    roles = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
    found = values.get("messages") if isinstance(values, dict) else None
    out = []
    for message in found or []:
        if not isinstance(message, dict):
            continue
        entry = {
            "role": roles.get(str(message.get("type")), str(message.get("type"))),
            "content": message.get("content"),
        }
        if message.get("name"):
            entry["name"] = message["name"]
        out.append(entry)
    return out


async def record(
    pool: Pool,
    *,
    thread_id: str,
    run_id: str,
    user_id: str,
    interrupt_id: str,
    payload: dict[str, Any],
    conversation: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Write the handoff with its audit row; None when it was recorded already (the thread paused again at it)."""
    async with pool.connection() as conn, conn.transaction():
        row = await (
            await conn.execute(
                f"INSERT INTO handoffs (handoff_id, thread_id, run_id, user_id, interrupt_id, signal, reason, "
                f"priority, packet, conversation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (handoff_id) DO NOTHING RETURNING {_COLUMNS}",
                (
                    payload["handoff_id"],
                    thread_id,
                    run_id,
                    user_id,
                    interrupt_id,
                    payload["signal"],
                    payload["reason"],
                    payload["priority"],
                    Jsonb(payload.get("packet") or {}),
                    Jsonb(conversation),
                ),
            )
        ).fetchone()
        if row is not None:
            await audit.record(
                conn,
                AuditEvent(
                    kind=HANDOFF_REQUESTED,
                    actor=user_id,
                    thread_id=thread_id,
                    run_id=run_id,
                    outcome="open",
                    detail={"handoff_id": row["handoff_id"], "signal": row["signal"], "priority": row["priority"]},
                ),
            )
    return row


async def replies_of(conn: AsyncConnection[DictRow], handoff_id: str) -> list[dict[str, Any]]:
    return await (
        await conn.execute(
            "SELECT reply_id, author, message, run_id, created_at FROM handoff_replies WHERE handoff_id = %s "
            "ORDER BY created_at, reply_id",
            (handoff_id,),
        )
    ).fetchall()


async def get(pool: Pool, principal: Principal, handoff_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The handoff and its replies; 404 for none, or another user's (admins see all)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE handoff_id = %s", (handoff_id,))
        ).fetchone()
        if row is None or not principal.owns(row["user_id"]):
            raise NotFound(f"handoff {handoff_id} not found; GET /handoffs lists yours")
        return row, await replies_of(conn, handoff_id)


async def search(
    pool: Pool, principal: Principal, *, status: str | None, thread_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    return await records.owned_search(
        pool, principal, table="handoffs", columns=_COLUMNS, status=status, thread_id=thread_id, limit=limit,
        offset=offset,
    )  # fmt: skip


async def open_for_thread(conn: AsyncConnection[DictRow], thread_id: Any) -> dict[str, Any] | None:
    return await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM handoffs WHERE thread_id = %s AND status = 'open' ORDER BY created_at DESC "
            f"LIMIT 1",
            (thread_id,),
        )
    ).fetchone()


def closed_already(row: dict[str, Any]) -> Conflict:
    when = row["closed_at"].isoformat() if row["closed_at"] else "an unknown time"
    return Conflict(
        f"handoff {row['handoff_id']} was already {row['status']} by {row['closed_by']} at {when}; "
        "a closed handoff takes no more answers (the thread is the agent's again)"
    )


def with_person(row: dict[str, Any]) -> Conflict:
    """The 409 for a resume that does not come from the person the thread was handed to."""
    return Conflict(
        f"thread {row['thread_id']} is with a person (handoff {row['handoff_id']}); answer it through "
        f"POST /handoffs/{row['handoff_id']}/reply, /resolve or /return, not a run's command"
    )


async def answer(
    conn: AsyncConnection[DictRow],
    handoff_id: str,
    action: str,
    *,
    by: str,
    message: str | None,
    reply_id: str,
    run_id: Any,
) -> dict[str, Any]:
    """Record a person's reply, or close the handoff, inside the transaction that queues the resuming run.
    Returns the handoff as it was before (with `first_reply` set when this is its first reply)."""
    row = await (
        await conn.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE handoff_id = %s FOR UPDATE", (handoff_id,))
    ).fetchone()
    if row is None:
        raise NotFound(f"handoff {handoff_id} not found")
    if row["status"] != "open":
        raise closed_already(row)
    first = row["first_reply_at"] is None and message is not None
    if action == "reply" or message is not None:
        await conn.execute(
            "INSERT INTO handoff_replies (reply_id, handoff_id, author, message, run_id) VALUES (%s, %s, %s, %s, %s)",
            (reply_id, handoff_id, by, message, run_id),
        )
    if first:
        await conn.execute("UPDATE handoffs SET first_reply_at = now() WHERE handoff_id = %s", (handoff_id,))
    if action in _CLOSED:
        await conn.execute(
            "UPDATE handoffs SET status = %s, closed_by = %s, closing_message = %s, closed_at = now() "
            "WHERE handoff_id = %s",
            (_CLOSED[action], by, message, handoff_id),
        )
    await audit.record(
        conn,
        AuditEvent(
            kind=HANDOFF_ANSWERED,
            actor=by,
            thread_id=str(row["thread_id"]),
            run_id=str(run_id),
            outcome=_CLOSED.get(action, "replied"),
            detail={"handoff_id": handoff_id, "action": action, "reply_id": reply_id if message else None},
        ),
    )
    return {**row, "first_reply": first}


async def claim_unnotified(pool: Pool, stale_after_s: float, limit: int = 20) -> list[dict[str, Any]]:
    """Open handoffs whose notification never arrived and is not being sent now, claimed for one sender."""
    return await records.claim_unnotified(
        pool, table="handoffs", key="handoff_id", columns=_COLUMNS, status="open",
        stale_after_s=stale_after_s, limit=limit,
    )  # fmt: skip


async def mark_attempted(pool: Pool, handoff_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE handoffs SET notify_attempted_at = now() WHERE handoff_id = %s", (handoff_id,))


async def mark_notified(pool: Pool, handoff_id: str) -> None:
    await records.mark_notified(pool, table="handoffs", key="handoff_id", value=handoff_id)


class PostgresHandoffLedger:
    """The service's ledger (tools.handoff_gate.HandoffLedger): an answer counts only as recorded through the
    handoff API: a reply by its id, with the recorded words and author; resolve or return only when the
    record says so. The resume value names what to look up; it is never the answer itself."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def confirm(self, thread_id: str | None, handoff_id: str, value: Any) -> HandoffAnswer | str:
        if not isinstance(value, dict) or value.get("handoff_id") != handoff_id:
            return f"an answer to handoff {handoff_id} comes through POST /handoffs/{handoff_id}/reply|resolve|return"
        action = value.get("action")
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT thread_id, status, closed_by, closing_message FROM handoffs WHERE handoff_id = %s",
                    (handoff_id,),
                )
            ).fetchone()
            if row is None or str(row["thread_id"]) != str(thread_id):
                return f"no handoff {handoff_id} is recorded for this thread"
            if action in _CLOSED:
                if row["status"] != _CLOSED[action]:
                    return f"handoff {handoff_id} is {row['status']}, not {_CLOSED[action]}"
                return HandoffAnswer(
                    action=action,
                    author=row["closed_by"],
                    message=row["closing_message"],
                    reply_id=value.get("reply_id"),
                )
            if action != "reply":
                return "the action must be reply, resolve or return"
            reply = await (
                await conn.execute(
                    "SELECT author, message FROM handoff_replies WHERE reply_id = %s AND handoff_id = %s",
                    (value.get("reply_id"), handoff_id),
                )
            ).fetchone()
        if reply is None:
            return f"no such reply is recorded for handoff {handoff_id}"
        return HandoffAnswer(
            action="reply", author=reply["author"], message=reply["message"], reply_id=value["reply_id"]
        )
