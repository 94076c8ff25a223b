"""Outgoing notifications: approval requests and finished runs, as signed webhooks in the background.

Approval notifications are durable: each approval records when a notification was attempted and when
one arrived, and `resend_unnotified` (run by every worker) sends again the ones a stopped process or a
long receiver outage lost. Receivers deduplicate on `approval.approval_id`.
"""

from __future__ import annotations

import time
from typing import Any

from handrail.approvals import approval_json, claim_unnotified, mark_notified
from handrail.runs.repo import run_json
from handrail.services import Services


def approval_requested(services: Services, row: dict[str, Any]) -> None:
    if services.settings.approval_webhook_url:
        services.spawn(send_approval(services, row), name=f"webhook-approval-{row['approval_id']}")


async def send_approval(services: Services, row: dict[str, Any]) -> None:
    """Deliver one approval notification and record that it arrived."""
    url = services.settings.approval_webhook_url
    assert url is not None
    async with services.pool.connection() as conn:
        await conn.execute(
            "UPDATE approvals SET notify_attempted_at = now() WHERE approval_id = %s", (row["approval_id"],)
        )
    payload = {"type": "approval.requested", "approval": approval_json(row)}
    if await services.webhooks.deliver("approval", row["approval_id"], url, payload):
        await mark_notified(services.pool, row["approval_id"])


async def resend_unnotified(services: Services) -> int:
    """Send again what never arrived, once a whole retry cycle could have finished."""
    settings = services.settings
    if not settings.approval_webhook_url:
        return 0
    cycle = settings.webhook_max_attempts * settings.webhook_timeout_s
    cycle += settings.webhook_backoff_s * 2**settings.webhook_max_attempts
    rows = await claim_unnotified(services.pool, stale_after_s=cycle)
    for row in rows:
        services.spawn(send_approval(services, row), name=f"webhook-approval-resend-{row['approval_id']}")
    return len(rows)


def run_finished(
    services: Services, run: dict[str, Any], status: str, error: dict[str, Any] | None, values: Any
) -> None:
    """The LangGraph API's run webhook: the run row, its final status and last values, signed."""
    payload = {**run_json(run), "status": status, "values": values, "webhook_sent_at": time.time()}
    if error is not None:
        payload["error"] = error
    services.spawn(
        services.webhooks.deliver("run", str(run["run_id"]), run["webhook"], payload),
        name=f"webhook-run-{run['run_id']}",
    )
