"""Outgoing notifications: approval requests, handoffs and finished runs, as signed webhooks in the background.

Both are durable: the approval or run records when a delivery was attempted and when one arrived, and
`resend_unnotified` (run by every worker) sends again what a stopped process or a long receiver outage
lost. Receivers deduplicate on `approval.approval_id` and on `run_id`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from handrail import handoffs
from handrail.approvals import Approval, claim_unnotified, mark_notified
from handrail.runs import event_log, repo
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
    payload = {"type": "approval.requested", "approval": Approval.from_row(row).model_dump(mode="json")}
    # The operator set APPROVAL_WEBHOOK_URL: it may point at an internal approver, unlike a caller's run webhook.
    if await services.webhooks.deliver("approval", row["approval_id"], url, payload, allow_private=True):
        await mark_notified(services.pool, row["approval_id"])


async def resend_unnotified(services: Services) -> int:
    """Send again what never arrived (approval notifications, run webhooks), once a whole retry cycle
    could have finished."""
    settings = services.settings
    cycle = settings.webhook_max_attempts * settings.webhook_timeout_s
    cycle += settings.webhook_backoff_s * 2**settings.webhook_max_attempts
    rows = await claim_unnotified(services.pool, stale_after_s=cycle) if settings.approval_webhook_url else []
    for row in rows:
        services.spawn(send_approval(services, row), name=f"webhook-approval-resend-{row['approval_id']}")
    handed = await handoffs.claim_unnotified(services.pool, stale_after_s=cycle) if handoff_url(services) else []
    for handed_row in handed:
        services.spawn(send_handoff(services, handed_row), name=f"webhook-handoff-resend-{handed_row['handoff_id']}")
    run_ids = await repo.claim_unsent_webhooks(services.pool, stale_after_s=cycle)
    for run_id in run_ids:
        services.spawn(send_run_webhook(services, run_id), name=f"webhook-run-resend-{run_id}")
    return len(rows) + len(handed) + len(run_ids)


def handoff_url(services: Services) -> str | None:
    """HANDOFF_WEBHOOK_URL, else APPROVAL_WEBHOOK_URL: the people who approve are often those who take over."""
    return services.settings.handoff_webhook_url or services.settings.approval_webhook_url


def handoff_requested(services: Services, row: dict[str, Any]) -> None:
    if handoff_url(services):
        services.spawn(send_handoff(services, row), name=f"webhook-handoff-{row['handoff_id']}")


async def send_handoff(services: Services, row: dict[str, Any]) -> None:
    """Deliver one `handoff.requested` notification (signed like every webhook) and record that it arrived."""
    url = handoff_url(services)
    assert url is not None
    await handoffs.mark_attempted(services.pool, row["handoff_id"])
    payload = {"type": "handoff.requested", "handoff": handoffs.Handoff.from_row(row).model_dump(mode="json")}
    # An operator's URL, like APPROVAL_WEBHOOK_URL: it may point at an internal help desk.
    if await services.webhooks.deliver("handoff", row["handoff_id"], url, payload, allow_private=True):
        await handoffs.mark_notified(services.pool, row["handoff_id"])


def run_finished(services: Services, run_id: uuid.UUID) -> None:
    services.spawn(send_run_webhook(services, run_id), name=f"webhook-run-{run_id}")


async def send_run_webhook(services: Services, run_id: uuid.UUID) -> None:
    """The LangGraph API's run webhook: the run row, its final status and last values, signed.
    Rebuilt from the database, so a resend carries exactly what the first attempt did."""
    run = await repo.load_run(services.pool, run_id)
    if run is None or not run["webhook"]:
        return  # deleted meanwhile (rollback, swept stateless thread)
    await repo.mark_webhook(services.pool, run_id, sent=False)
    output = (await event_log.end_event(services.pool, run_id) or {}).get("output") or {}
    values = {k: v for k, v in output.items() if k not in repo.OUTPUT_EXTRAS}
    payload = {
        **repo.Run.from_row(run).model_dump(mode="json", exclude_unset=True),
        "values": values,
        "webhook_sent_at": time.time(),
    }
    if run["error"] is not None:
        payload["error"] = run["error"]
    allow_private = services.settings.webhook_allow_private
    if await services.webhooks.deliver("run", str(run_id), run["webhook"], payload, allow_private=allow_private):
        await repo.mark_webhook(services.pool, run_id, sent=True)
