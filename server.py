"""Handrail's HTTP service: the LangGraph Server API (so langgraph-sdk and Studio work unchanged),
plus approvals. `create_app()` is the factory uvicorn serves; routes live in handrail/api/."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from handrail import __version__
from handrail.api import approvals, assistants, meta, runs, store, threads
from handrail.errors import HandrailError, RateLimited
from handrail.logs import configure_logging
from handrail.runs.worker import Worker
from handrail.services import open_services
from handrail.settings import Settings, get_settings

logger = logging.getLogger("handrail.server")


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
            logger.info(
                "server.ready",
                extra={"host": resolved.host, "port": resolved.port, "workers_in_process": resolved.workers},
            )
            try:
                yield
            finally:
                await worker.stop()

    app = FastAPI(
        title="Handrail",
        version=__version__,
        summary="LangGraph agents in production: durable runs, approvals before sensitive tools.",
        lifespan=lifespan,
    )
    for module in (meta, assistants, threads, runs, store, approvals):
        app.include_router(module.router)
    _install_error_handlers(app)
    app.middleware("http")(_json_labelled_text)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=resolved.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials=True,
        expose_headers=["content-location", "location", "x-pagination-total", "x-pagination-next"],
    )
    return app


async def _json_labelled_text(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Studio may send JSON labelled text/plain; treat it as JSON. Preflights may ask for private network."""
    if request.headers.get("content-type", "").startswith("text/plain"):
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
        request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
    response = await call_next(request)
    if request.method == "OPTIONS" and request.headers.get("access-control-request-private-network"):
        response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HandrailError)
    async def handrail_error(request: Request, exc: HandrailError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimited) else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

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
        incident = uuid.uuid4().hex[:12]
        logger.exception("request.failed", extra={"incident": incident, "path": request.url.path})
        return JSONResponse(
            {"detail": f"internal error {incident}: {type(exc).__name__}; the server log has the details"},
            status_code=500,
        )


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _jsonable(errors: Any) -> Any:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
