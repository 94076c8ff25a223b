"""Health and server info."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Response

from handrail import __version__
from handrail.api.deps import ServicesDep
from handrail.metrics import CONTENT_TYPE

router = APIRouter(tags=["meta"])


@router.get("/ok")
async def ok(services: ServicesDep, check_db: int = 0) -> dict[str, Any]:
    """Liveness; with `check_db=1` also a round trip to Postgres."""
    if check_db:
        async with services.pool.connection() as conn:
            await conn.execute("SELECT 1")
    return {"ok": True}


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition: runs, tools, models, approvals, the queue, webhooks and HTTP (handrail/metrics.py)."""
    return Response(await services.metrics.exposition(services.pool), media_type=CONTENT_TYPE)


@router.get("/info")
async def info(services: ServicesDep) -> dict[str, Any]:
    return {
        "version": __version__,
        "langgraph_py_version": version("langgraph"),
        "flags": {"assistants": True, "crons": False, "langsmith": False, "langsmith_tracing_replicas": False},
        "host": {"kind": "handrail", "project_id": None, "revision_id": None, "tenant_id": None},
        "handrail": {
            "database": services.database.kind,
            "bus": services.bus.kind,
            "auth": "dev-mode" if services.keyring.dev_mode else "api-keys",
        },
    }
