"""Handrail's HTTP service: the LangGraph Server API (so langgraph-sdk and Studio work unchanged),
plus approvals. `create_app()` is the factory uvicorn serves; routes live in handrail/api/."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail import __version__
from handrail.api import (
    admin,
    approval_feed,
    approvals,
    assistants,
    crons,
    handoffs,
    identity,
    memories,
    meta,
    runs,
    store,
    threads,
    timeline,
    tools,
)
from handrail.api.limits import RequestLimits
from handrail.console import routes as console
from handrail.errors import HandrailError, InfrastructureError
from handrail.logs import configure_logging
from handrail.metrics import HttpMetrics
from handrail.ratelimit import RateLimitHeaders
from handrail.runs.worker import Worker
from handrail.services import open_services
from handrail.settings import Settings, get_settings

logger = logging.getLogger("handrail.server")

RETRY_AFTER_S = 5  # what a 503 asks clients to wait: long enough for a pool or a failover to recover
# A dependency outage is the infrastructure's fault, not a bug: 503 naming the dependency, never a 500.
DEPENDENCY_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (psycopg.OperationalError, "Postgres"),  # includes psycopg_pool.PoolTimeout and PoolClosed
    (redis.exceptions.ConnectionError, "Redis"),
    (redis.exceptions.TimeoutError, "Redis"),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; settings come from the environment unless given (tests pass their own)."""
    resolved = settings or get_settings()
    if settings is None:
        configure_logging(resolved.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(resolved) as services:
            app.state.services = services
            worker = Worker(services, concurrency=resolved.workers)
            if resolved.workers > 0:
                await worker.start()
                services.local_worker = worker
            logger.info(
                "server.ready",
                extra={
                    "host": resolved.host,
                    "port": resolved.port,
                    "workers_in_process": resolved.workers,
                    "pid": os.getpid(),
                    "worker_id": services.worker_id,
                },
            )
            try:
                yield
            finally:
                services.local_worker = None
                await worker.stop()

    app = FastAPI(
        title="Handrail",
        version=__version__,
        summary="LangGraph agents in production: durable runs, approvals before sensitive tools.",
        lifespan=lifespan,
    )
    # approval_feed before approvals: its /approvals/stream would otherwise be taken for /approvals/{approval_id}.
    api = (
        meta, identity, assistants, threads, timeline, crons, runs, store, memories, approval_feed, approvals, handoffs,
        tools,
    )  # fmt: skip
    for module in (*api, admin):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(console.router)  # the approval console: /console
    _install_error_handlers(app)
    _document_error_bodies(app)
    # Outermost last: CORS, then ErrorResponses (so even a 500 carries CORS headers), then the request limits,
    # which answer before any route, dependency or database is touched.
    if resolved.rate_limit_per_minute > 0:  # off: no wrapper around every response's send
        app.add_middleware(RateLimitHeaders)  # X-RateLimit-* on every response get_principal counted
    app.add_middleware(StudioQuirks)
    app.add_middleware(RequestLimits, max_body_bytes=resolved.max_body_bytes, max_json_depth=resolved.max_json_depth)
    app.add_middleware(ErrorResponses)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=resolved.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=True,
        expose_headers=[
            *("content-location", "location", "x-pagination-total", "x-pagination-next", "retry-after"),
            *("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
        ],
        # Studio is a hosted page calling a server on the user's machine or network: browsers ask first.
        allow_private_network=True,
    )
    # Outermost: every answer is counted, the request limits' and the error handler's too.
    app.add_middleware(HttpMetrics, metrics=lambda: getattr(getattr(app.state, "services", None), "metrics", None))
    return app


class StudioQuirks:
    """Studio may send JSON labelled text/plain: it is read as JSON. A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware wraps every response in an extra stream and task."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(
            k == b"content-type" and v.startswith(b"text/plain") for k, v in scope["headers"]
        ):
            relabelled = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            # In place: the route the router records in this scope must stay visible to HttpMetrics.
            scope["headers"] = [*relabelled, (b"content-type", b"application/json")]
        await self.app(scope, receive, send)


class ErrorResponses:
    """Answers what no exception handler did: a dependency outage with 503 and Retry-After, anything else with a
    JSON 500 and an incident id in the log. FastAPI's `Exception` handler runs in Starlette's
    ServerErrorMiddleware, which re-raises afterwards, so the server drops the client's keep-alive connection;
    answering here, inside it, keeps the connection usable. An error after the response started cannot be
    answered any more and is left to the server (which logs it and closes the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await error_response(exc, scope["path"])(scope, receive, send)


def error_response(exc: Exception, path: str) -> JSONResponse:
    dependency = _unavailable_dependency(exc)
    if dependency is not None:
        logger.warning(
            "request.dependency_unavailable",
            extra={"dependency": dependency, "error": type(exc).__name__, "path": path},
            exc_info=exc,
        )
        return JSONResponse(
            {"detail": f"{dependency} is unavailable ({type(exc).__name__}); retry in {RETRY_AFTER_S} s"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    incident = uuid.uuid4().hex[:12]
    logger.error("request.failed", extra={"incident": incident, "path": path}, exc_info=exc)
    return JSONResponse(
        {"detail": f"internal error {incident}: {type(exc).__name__}; the server log has the details"},
        status_code=500,
    )


def _unavailable_dependency(exc: BaseException) -> str | None:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _unavailable_dependency(inner)) is not None:
                return found
        return None
    return next((name for kind, name in DEPENDENCY_ERRORS if isinstance(exc, kind)), None)


class ErrorBody(BaseModel):
    """Every error Handrail answers (FastAPI's invalid-request 422 adds `errors`, see HTTPValidationError)."""

    detail: str = Field(description="What was wrong and what to do about it.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A value the schema cannot check, e.g. an invalid resume."},
    401: {"model": ErrorBody, "description": "Missing or unknown API key."},
    403: {"model": ErrorBody, "description": "A valid key that lacks the right, e.g. a non-admin key on /audit."},
    404: {"model": ErrorBody, "description": "Unknown id, or another user's."},
    409: {"model": ErrorBody, "description": "Busy thread, decided approval, existing id."},
    413: {"model": ErrorBody, "description": "Body larger than MAX_BODY_BYTES."},
    429: {
        "model": ErrorBody,
        "description": "Over RATE_LIMIT_PER_MINUTE, or the user's USER_DAILY_BUDGET_USD is spent; retry after "
        "Retry-After (the body also says which limit and when).",
    },
    503: {"model": ErrorBody, "description": "A dependency (Postgres, Redis) is unavailable; retry after Retry-After."},
}


def _document_error_bodies(app: FastAPI) -> None:
    """FastAPI documents 422 as `{"detail": [errors]}`; Handrail answers `{"detail": "...", "errors": [...]}` (the
    SDK shows only a string detail). Make the OpenAPI document say what the server sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {"type": "string", "title": "Detail", "description": "What was wrong and what to do."},
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                },
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HandrailError)
    async def handrail_error(request: Request, exc: HandrailError) -> JSONResponse:
        headers = dict(exc.headers or {})  # RateLimited sets its own Retry-After
        if isinstance(exc, InfrastructureError):
            headers.setdefault("Retry-After", str(RETRY_AFTER_S))
        body = {**(exc.body_extra or {}), "detail": str(exc)}
        return JSONResponse(body, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The SDK shows only a string `detail`; FastAPI's default list would surface as "422 Unprocessable".
        problems = "; ".join(_describe(e) for e in exc.errors())
        return JSONResponse(
            {"detail": f"invalid request: {problems}", "errors": _jsonable(exc.errors())}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}; see /docs for the API"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only errors raised outside ErrorResponses (in CORS) get here; the server then closes the connection.
        return error_response(exc, request.url.path)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _jsonable(errors: Any) -> Any:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
