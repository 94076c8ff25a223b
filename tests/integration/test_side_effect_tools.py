"""create_ticket and send_email against the real database (and a real SMTP server for delivery)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.smtp_sink import running_smtp_sink
from tools.base import ToolEnv
from tools.email import SendEmailArgs, send_email
from tools.resources import SmtpConfig, ToolResources
from tools.tickets import CreateTicketArgs, create_ticket


def env_for(pool, key: str | None = None, smtp: SmtpConfig | None = None) -> ToolEnv:
    return ToolEnv(
        idempotency_key=key or f"test:{uuid.uuid4()}",
        user_id="u1",
        thread_id="t1",
        resources=ToolResources(pool=pool, smtp=smtp),
    )


async def test_create_ticket_twice_with_one_key_opens_one_ticket(pool):
    env = env_for(pool)
    args = CreateTicketArgs(title="Damaged parcel", body="Box crushed", priority="high")
    first, second = await asyncio.gather(create_ticket.fn(args, env), create_ticket.fn(args, env))

    assert first.ok and second.ok
    assert first.data["ticket_id"] == second.data["ticket_id"]
    assert sorted([first.data["deduplicated"], second.data["deduplicated"]]) == [False, True]
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM tickets WHERE idempotency_key = %s", (env.idempotency_key,))
        assert (await cur.fetchone())["n"] == 1


async def test_tools_without_a_database_fail_readably():
    env = ToolEnv(idempotency_key="k")
    result = await create_ticket.fn(CreateTicketArgs(title="abc", body="x"), env)
    assert not result.ok and "no database" in result.error


@pytest.fixture
def smtp_server():
    with running_smtp_sink() as (inbox, port):
        yield inbox, SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="agent@acme.test")


async def test_email_is_delivered_over_smtp_at_most_once_per_key(pool, smtp_server):
    inbox, smtp = smtp_server
    env = env_for(pool, smtp=smtp)
    args = SendEmailArgs(to="alice@example.com", subject="Hello", body="Refunds take 5-10 days.")

    first = await send_email.fn(args, env)
    second = await send_email.fn(args, env)

    assert first.ok and first.data["status"] == "sent"
    assert second.ok and second.data["deduplicated"] and second.data["status"] == "sent"
    assert len(inbox.messages) == 1
    assert inbox.messages[0].rcpt_tos == ["alice@example.com"]
    assert b"Refunds take 5-10 days." in inbox.messages[0].content


async def test_failed_smtp_delivery_is_recorded_and_reported(pool):
    dead = SmtpConfig(host="127.0.0.1", port=1, starttls=False)  # nothing listens on port 1
    result = await send_email.fn(SendEmailArgs(to="bob@example.com", subject="Hi", body="x"), env_for(pool, smtp=dead))

    assert not result.ok and "SMTP delivery failed" in result.error
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT status, attempts, last_error FROM outbox WHERE id = %s", (result.data["outbox_id"],)
            )
        ).fetchone()
    assert row["status"] == "failed" and row["attempts"] == 1 and row["last_error"]
