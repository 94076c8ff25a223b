"""Outgoing email: the `send_email` tool. Every email lands in the outbox table first; it is
delivered over SMTP only when a server is configured, and at most once per idempotency key."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool
from tools.resources import SmtpConfig, insert_once, resources_of

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class SendEmailArgs(BaseModel):
    to: str = Field(pattern=_EMAIL, max_length=254, description="Recipient address, e.g. alice@example.com.")
    subject: str = Field(min_length=1, max_length=200, description="Subject line.")
    body: str = Field(min_length=1, max_length=20000, description="Plain-text body.")


def _preview(args: SendEmailArgs) -> str:
    snippet = " ".join(args.body.split())[:120]
    return f"send email to {args.to}, subject {args.subject!r}: {snippet}"


_INSERT = """
INSERT INTO outbox (idempotency_key, user_id, thread_id, recipient, subject, body)
VALUES (%(key)s, %(user_id)s, %(thread_id)s, %(to)s, %(subject)s, %(body)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, status
"""
_EXISTING = "SELECT id, status FROM outbox WHERE idempotency_key = %(key)s"
# Claiming the row before talking to SMTP makes delivery at-most-once: a crash mid-send leaves the
# row in 'sending' for an operator, rather than risking a second email on retry.
_CLAIM = """
UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id = %(id)s AND status IN ('queued', 'failed') RETURNING id
"""
_MARK = "UPDATE outbox SET status = %(status)s, last_error = %(error)s, updated_at = now() WHERE id = %(id)s"


@tool(
    args=SendEmailArgs,
    risk="dangerous",
    requires_approval=True,
    timeout_s=30,
    max_calls_per_run=3,
    preview=_preview,
)
async def send_email(args: SendEmailArgs, env: ToolEnv) -> ToolResult:
    """Send an email to one recipient. A person must approve every email before it leaves, and may
    edit or reject it. Use it only when the user asked for an email to be sent; put the full content
    in the body. Returns the outbox id and delivery status (queued, sent or failed)."""
    res = resources_of(env)
    if res is None:
        return ToolResult.failure("send_email has no outbox database configured; the email was not sent")
    params = {"key": env.idempotency_key, "user_id": env.user_id, "thread_id": env.thread_id, **args.model_dump()}
    async with res.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row, deduplicated = await insert_once(cur, _INSERT, _EXISTING, params)
        status, error = row["status"], None
        if res.smtp is not None and status in ("queued", "failed"):
            if await (await cur.execute(_CLAIM, {"id": row["id"]})).fetchone():
                status, error = await _deliver(res.smtp, args, env.idempotency_key)
                await cur.execute(_MARK, {"id": row["id"], "status": status, "error": error})
    data = {
        "outbox_id": row["id"],
        "to": args.to,
        "subject": args.subject,
        "status": status,
        "deduplicated": deduplicated,
    }
    if error:
        return ToolResult(
            ok=False,
            data=data,
            error=f"email queued but SMTP delivery failed: {error}; it was not delivered: tell the user so "
            "rather than sending it again",
        )
    return ToolResult.success(data)


async def _deliver(smtp: SmtpConfig, args: SendEmailArgs, key: str) -> tuple[str, str | None]:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = smtp.sender, args.to, args.subject
    # A Message-ID derived from the idempotency key lets receivers drop a duplicate delivery.
    msg["Message-ID"] = f"<{key.replace(':', '.')}@handrail>"
    msg.set_content(args.body)
    try:
        await asyncio.to_thread(_send_blocking, smtp, msg)
    except (OSError, smtplib.SMTPException) as exc:
        return "failed", f"{type(exc).__name__}: {exc}"
    return "sent", None


def _send_blocking(smtp: SmtpConfig, msg: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=20) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password)
        client.send_message(msg)
