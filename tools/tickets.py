"""Support tickets: the `create_ticket` tool, writing to Handrail's tickets table."""

from __future__ import annotations

from typing import Literal

from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool
from tools.resources import insert_once, resources_of


class CreateTicketArgs(BaseModel):
    title: str = Field(min_length=3, max_length=200, description="One-line summary of the problem.")
    body: str = Field(min_length=1, max_length=5000, description="What happened and what is needed.")
    priority: Literal["low", "normal", "high", "urgent"] = Field(
        "normal", description="urgent: outage or safety; high: blocked customer; normal; low."
    )


_INSERT = """
INSERT INTO tickets (idempotency_key, user_id, thread_id, title, body, priority)
VALUES (%(key)s, %(user_id)s, %(thread_id)s, %(title)s, %(body)s, %(priority)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, status, created_at
"""
_EXISTING = "SELECT id, status, created_at FROM tickets WHERE idempotency_key = %(key)s"


@tool(args=CreateTicketArgs, risk="write", timeout_s=10, max_calls_per_run=3)
async def create_ticket(args: CreateTicketArgs, env: ToolEnv) -> ToolResult:
    """Open a support ticket for a human team to follow up. Use it when the user asks to escalate,
    report a problem or open a case. Returns the ticket id; calling again for the same step never
    opens a second ticket."""
    res = resources_of(env)
    if res is None:
        return ToolResult.failure("create_ticket has no database configured; tell the user it is unavailable")
    params = {"key": env.idempotency_key, "user_id": env.user_id, "thread_id": env.thread_id, **args.model_dump()}
    async with res.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row, deduplicated = await insert_once(cur, _INSERT, _EXISTING, params)
    return ToolResult.success(
        {
            "ticket_id": row["id"],
            "status": row["status"],
            "priority": args.priority,
            "title": args.title,
            "created_at": row["created_at"].isoformat(),
            "deduplicated": deduplicated,
        }
    )
