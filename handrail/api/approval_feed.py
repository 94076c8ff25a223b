"""GET /approvals/stream: the caller's approvals as they are created and decided (server-sent events).

Registered before the approvals router, whose `/approvals/{approval_id}` would otherwise take `stream` for an id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from handrail import approval_feed
from handrail.api.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/approvals", tags=["approvals"])

SSE = "text/event-stream; charset=utf-8"
FEED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `metadata` (FeedReady) once subscribed, then `approval` (ApprovalChange) "
        "for each approval created or decided; `: heartbeat` comments while quiet. The stream does not end.",
        "content": {SSE: {}},
    }
}


@router.get("/stream", response_class=StreamingResponse, responses=FEED)
async def stream_approvals(services: ServicesDep, principal: PrincipalDep) -> Any:
    """The approvals the caller may see (their own; every user's for an admin key) as they change. To build an
    inbox without a gap: open the stream, wait for `metadata`, then GET /approvals?status=pending, and apply the
    events over it by `approval_id`."""
    return StreamingResponse(
        approval_feed.feed(services, principal),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
