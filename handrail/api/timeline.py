"""GET /threads/{thread_id}/timeline: what happened on a thread, run by run, for a person to read."""

from __future__ import annotations

from fastapi import APIRouter

from handrail import timeline
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.timeline import ThreadTimeline

router = APIRouter(tags=["threads"])


@router.get("/threads/{thread_id}/timeline")
async def thread_timeline(thread_id: str, services: ServicesDep, principal: PrincipalDep) -> ThreadTimeline:
    """Each run (model calls by node, tool calls with ok/error and latency, its audit events: approvals asked and
    decided, by whom), the thread's approvals, and each run's Langfuse trace link when tracing is configured."""
    return await timeline.thread_timeline(services, principal, thread_id)
