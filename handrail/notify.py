"""Outgoing notifications: approval requests and finished runs, as signed webhooks in the background."""

from __future__ import annotations

import time
from typing import Any

from handrail.approvals import approval_json
from handrail.runs.repo import run_json
from handrail.services import Services


def approval_requested(services: Services, row: dict[str, Any]) -> None:
    url = services.settings.approval_webhook_url
    if not url:
        return
    payload = {"type": "approval.requested", "approval": approval_json(row)}
    services.spawn(
        services.webhooks.deliver("approval", row["approval_id"], url, payload),
        name=f"webhook-approval-{row['approval_id']}",
    )


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
