"""Runs: background, wait and stream (SSE), on a thread or stateless; list, join, cancel, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.limits import check_messages
from handrail.api.paging import LimitQuery, OffsetQuery
from handrail.api.screening import screen_input
from handrail.auth import Principal
from handrail.errors import InvalidRequest, Unprocessable
from handrail.runs import event_log, repo, service
from handrail.runs.repo import Run
from handrail.runs.schemas import RunCreate, require_modes_known
from handrail.services import Services
from handrail.wire import Interrupt

router = APIRouter(tags=["runs"])
SSE = "text/event-stream; charset=utf-8"


class RunOutput(BaseModel):
    """The run's final values (the state's keys), and what ended it when it did not succeed. Sent as the run ends,
    after a newline every few seconds while it runs (JSON ignores them)."""

    model_config = ConfigDict(extra="allow")

    error: dict[str, Any] | None = Field(
        None, alias="__error__", description="`{error, message}` after a failure (the answer is still 200)."
    )
    interrupt: list[Interrupt] | None = Field(
        None, alias="__interrupt__", description="The pending interrupts, after an `interrupt()`."
    )


# The stream routes' answer, documented as such (a client generator then knows it is not JSON).
SSE_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-sent events: `event:` and `data:` lines.", "content": {SSE: {}}}
}
# The /wait, /join and cancel-with-wait answers: streamed JSON, documented as what it holds.
FINAL_VALUES: dict[int | str, dict[str, Any]] = {200: {"model": RunOutput}}


def _locations(run: dict[str, Any], *, stateless: bool, suffix: str) -> dict[str, str]:
    base = f"/threads/{run['thread_id']}/runs/{run['run_id']}"
    content = f"/runs/{run['run_id']}" if stateless else base
    return {"Content-Location": content, "Location": f"{base}{suffix}"}


async def _check_limits(services: Services, principal: Principal, thread_id: str | None, *bodies: RunCreate) -> None:
    """Message size and count, then the input guardrail, before a run is created."""
    settings = services.settings
    payloads = [
        (where, payload)
        for body in bodies
        for where, payload in (("input", body.input), ("command.update", body.command and body.command.update))
    ]
    check_messages(
        payloads, max_message_chars=settings.max_message_chars, max_input_messages=settings.max_input_messages
    )
    await screen_input(services, principal, thread_id, payloads)


def _stream_response(
    services: Services, principal: Principal, run: dict[str, Any], body: RunCreate, *, stateless: bool
) -> StreamingResponse:
    events = service.event_stream(
        services, run, modes=None, after=0, cancel_on_disconnect=body.on_disconnect == "cancel", principal=principal
    )
    return StreamingResponse(events, media_type=SSE, headers=_locations(run, stateless=stateless, suffix="/stream"))


def _wait_response(services: Services, run: dict[str, Any], *, stateless: bool) -> StreamingResponse:
    return StreamingResponse(
        service.wait_body(services, run["run_id"]),
        media_type="application/json",
        headers=_locations(run, stateless=stateless, suffix="/join"),
    )


@router.post("/threads/{thread_id}/runs", response_model_exclude_unset=True)
async def create_run(
    thread_id: str, body: RunCreate, services: ServicesDep, principal: PrincipalDep, response: Response
) -> Run:
    """Queue a run in the background; it is returned at once as `pending`."""
    await _check_limits(services, principal, thread_id, body)
    run = await service.create_run(services, principal, thread_id, body)
    response.headers.update(_locations(run, stateless=False, suffix=""))
    response.headers["Location"] = f"/threads/{thread_id}/runs/{run['run_id']}"
    return Run.from_row(run)


@router.post("/threads/{thread_id}/runs/stream", response_class=StreamingResponse, responses=SSE_STREAM)
async def stream_run(thread_id: str, body: RunCreate, services: ServicesDep, principal: PrincipalDep) -> Any:
    await _check_limits(services, principal, thread_id, body)
    run = await service.create_run(services, principal, thread_id, body)
    return _stream_response(services, principal, run, body, stateless=False)


@router.post("/threads/{thread_id}/runs/wait", response_class=StreamingResponse, responses=FINAL_VALUES)
async def wait_run(thread_id: str, body: RunCreate, services: ServicesDep, principal: PrincipalDep) -> Any:
    await _check_limits(services, principal, thread_id, body)
    run = await service.create_run(services, principal, thread_id, body, final_only=True)
    return _wait_response(services, run, stateless=False)


@router.post("/runs", response_model_exclude_unset=True)
async def create_stateless_run(
    body: RunCreate, services: ServicesDep, principal: PrincipalDep, response: Response
) -> Run:
    await _check_limits(services, principal, None, body)
    run = await service.create_run(services, principal, None, body)
    response.headers["Content-Location"] = f"/runs/{run['run_id']}"
    return Run.from_row(run)


@router.post("/runs/stream", response_class=StreamingResponse, responses=SSE_STREAM)
async def stream_stateless_run(body: RunCreate, services: ServicesDep, principal: PrincipalDep) -> Any:
    await _check_limits(services, principal, None, body)
    run = await service.create_run(services, principal, None, body)
    return _stream_response(services, principal, run, body, stateless=True)


@router.post("/runs/wait", response_class=StreamingResponse, responses=FINAL_VALUES)
async def wait_stateless_run(body: RunCreate, services: ServicesDep, principal: PrincipalDep) -> Any:
    await _check_limits(services, principal, None, body)
    run = await service.create_run(services, principal, None, body, final_only=True)
    return _wait_response(services, run, stateless=False)


@router.post("/runs/batch", response_model_exclude_unset=True)
async def create_batch(body: list[RunCreate], services: ServicesDep, principal: PrincipalDep) -> list[Run]:
    """Queue several stateless runs. The whole batch is checked before the first run is queued."""
    if len(body) > services.settings.max_batch_runs:
        raise Unprocessable(
            f"a batch of {len(body)} runs; the limit is {services.settings.max_batch_runs} runs "
            "(setting MAX_BATCH_RUNS); send several batches"
        )
    await _check_limits(services, principal, None, *body)
    return [Run.from_row(await service.create_run(services, principal, None, item)) for item in body]


@router.get("/threads/{thread_id}/runs", response_model_exclude_unset=True)
async def list_runs(
    thread_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: LimitQuery = 10,
    offset: OffsetQuery = 0,
    status: str | None = None,
) -> list[Run]:
    from handrail import threads

    row = await threads.get_thread(services.pool, principal, thread_id)
    rows = await repo.list_runs(services.pool, row["thread_id"], limit=limit, offset=offset, status=status or None)
    return [Run.from_row(r) for r in rows]


@router.get("/threads/{thread_id}/runs/{run_id}", response_model_exclude_unset=True)
async def get_run(thread_id: str, run_id: str, services: ServicesDep, principal: PrincipalDep) -> Run:
    return Run.from_row(await repo.get_run(services.pool, principal, thread_id, run_id))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(thread_id: str, run_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    await service.delete_run(services, principal, thread_id, run_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join", response_class=StreamingResponse, responses=FINAL_VALUES)
async def join_run(thread_id: str, run_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    run = await repo.get_run(services.pool, principal, thread_id, run_id)
    return StreamingResponse(service.wait_body(services, run["run_id"]), media_type="application/json")


@router.get("/threads/{thread_id}/runs/{run_id}/stream", response_class=StreamingResponse, responses=SSE_STREAM)
async def join_stream(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    cancel_on_disconnect: bool = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """Join a run's stream. With Last-Event-ID it replays what followed that event (every run keeps its
    events, so a reconnect loses nothing); without, it starts from now."""
    run = await repo.get_run(services.pool, principal, thread_id, run_id)
    modes = require_modes_known(stream_mode or []) or None
    if last_event_id and last_event_id.isdigit():
        after = int(last_event_id)
    elif last_event_id == "-":
        after = 0
    else:
        after = await event_log.last_seq(services.pool, run["run_id"])
    events = service.event_stream(
        services, run, modes=modes, after=after, cancel_on_disconnect=cancel_on_disconnect, principal=principal
    )
    return StreamingResponse(events, media_type=SSE)


@router.post(
    "/threads/{thread_id}/runs/{run_id}/cancel",
    status_code=202,
    response_class=Response,
    responses={**FINAL_VALUES, 202: {"description": "Cancellation requested (without `wait`): no body."}},
)
async def cancel_run(
    thread_id: str,
    run_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Any:
    run = await service.cancel_run(services, principal, thread_id, run_id, action, final_ok=wait)
    if wait:
        return StreamingResponse(service.wait_body(services, run["run_id"]), media_type="application/json")
    return Response(status_code=202)


class CancelMany(BaseModel):
    thread_id: str | None = None
    run_ids: list[uuid.UUID] | None = None
    status: Literal["pending", "running", "all"] | None = None


@router.post("/runs/cancel", status_code=204)
async def cancel_many(
    body: CancelMany,
    services: ServicesDep,
    principal: PrincipalDep,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Cancel several runs of one thread (`thread_id` and `run_ids`), or the caller's runs by `status`."""
    if body.status is not None:
        if body.thread_id or body.run_ids:
            raise Unprocessable("pass either status, or thread_id and run_ids, not both")
        await service.cancel_runs(services, principal, body.status, action)
        return Response(status_code=204)
    if not body.thread_id or not body.run_ids:
        raise InvalidRequest("pass thread_id and run_ids, or a status (pending, running or all)")
    for rid in body.run_ids:
        await service.cancel_run(services, principal, body.thread_id, str(rid), action)
    return Response(status_code=204)
