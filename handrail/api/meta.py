"""Health and server info."""

from __future__ import annotations

from importlib.metadata import version
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from handrail import __version__
from handrail.api.deps import ServicesDep
from handrail.health import POSTGRES
from handrail.metrics import CONTENT_TYPE
from handrail.services import Services

RETRY_AFTER_S = 5  # as the server's other 503s (server.RETRY_AFTER_S)
CHECK_DB_TIMEOUT_S = 5.0

router = APIRouter(tags=["meta"])


class Health(BaseModel):
    ok: bool = True
    status: Literal["ok", "degraded"]
    reasons: list[str] = Field(default_factory=list, description="What is degraded; absent when all is well.")


class Unavailable(BaseModel):
    ok: bool = False
    status: Literal["unavailable"]
    detail: str
    reasons: list[str]


class Host(BaseModel):
    kind: str
    project_id: str | None
    revision_id: str | None
    tenant_id: str | None


class HandrailInfo(BaseModel):
    database: str = Field(description="`external`, or `embedded` (a Postgres Handrail started itself).")
    bus: str = Field(description="What carries events between processes: `redis`, `postgres` or `local`.")
    degraded: list[str]
    auth: Literal["dev-mode", "api-keys"]


class Info(BaseModel):
    """What LangGraph Studio reads to know the server, and Handrail's own section."""

    version: str
    langgraph_py_version: str
    flags: dict[str, bool]
    host: Host
    handrail: HandrailInfo


@router.get(
    "/ok",
    response_model=Health,
    response_model_exclude_unset=True,
    responses={503: {"model": Unavailable, "description": "Postgres is unreachable; retry after Retry-After."}},
)
async def ok(services: ServicesDep, check_db: int = 0) -> Health | JSONResponse:
    """Health from what this process already knows (no round trip): 200 `ok`, 200 `degraded` with the
    reasons (Redis down, a breaker open, the tool cache skipped), 503 with Retry-After when Postgres is
    unreachable. `check_db=1` adds a round trip to Postgres (a failure is a 503 too)."""
    reasons = degradations(services)
    if services.bus.health.is_degraded(POSTGRES):
        return JSONResponse(
            {
                "ok": False,
                "status": "unavailable",
                "detail": f"Postgres is unreachable; retry in {RETRY_AFTER_S} s",
                "reasons": reasons,
            },
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if check_db:  # bounded: a probe must not wait the pool's 30 s for a connection
        async with services.pool.connection(timeout=CHECK_DB_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")
    if reasons:
        return Health(ok=True, status="degraded", reasons=reasons)
    return Health(ok=True, status="ok")


def degradations(services: Services) -> list[str]:
    """This process's degradations (handrail/health.py), then the open breakers and the tool cache, read
    from the objects that own them."""
    reasons = list(services.bus.health.reasons())
    reasons += [f"model breaker open: {name}" for name in services.breakers.open_breakers()]
    reasons += [f"tool breaker open: {name}" for name in services.tool_breakers.open_tool_breakers()]
    if services.tool_cache is not None and (why := services.tool_cache.cache_degraded()) is not None:
        reasons.append(f"tool cache: {why}")
    return reasons


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition: runs, tools, models, approvals, the queue, webhooks and HTTP (handrail/metrics.py)."""
    return Response(await services.metrics.exposition(services.pool), media_type=CONTENT_TYPE)


@router.get("/info")
async def info(services: ServicesDep) -> Info:
    return Info(
        version=__version__,
        langgraph_py_version=version("langgraph"),
        flags={"assistants": True, "crons": True, "langsmith": False, "langsmith_tracing_replicas": False},
        host=Host(kind="handrail", project_id=None, revision_id=None, tenant_id=None),
        handrail=HandrailInfo(
            database=services.database.kind,
            bus=services.bus.in_use,
            degraded=degradations(services),
            auth="dev-mode" if services.keyring.dev_mode else "api-keys",
        ),
    )
