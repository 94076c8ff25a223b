"""Threads: create, read, search, copy, delete; their state and history (time travel)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Response
from fastapi.responses import StreamingResponse
from langgraph.errors import InvalidUpdateError
from pydantic import BaseModel, Field, field_validator

from handrail import state, threads
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.limits import check_messages
from handrail.api.paging import Limit, LimitQuery, Offset, page, page_of
from handrail.api.runs import SSE_STREAM
from handrail.errors import Conflict, InvalidRequest, Unprocessable, first_line
from handrail.runs import repo, service
from handrail.runs.schemas import checkpoint_ids_are_strings
from handrail.serialize import to_json
from handrail.state import StateUpdated, ThreadState
from handrail.threads import Thread

router = APIRouter(prefix="/threads", tags=["threads"])


class ThreadCreate(BaseModel):
    thread_id: uuid.UUID | None = Field(None, description="The new thread's id (a UUID); omitted: one is made.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: Any = None
    supersteps: list[dict[str, Any]] | None = None


class ThreadPatch(BaseModel):
    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Any = None


class ThreadSearch(BaseModel):
    ids: list[str] | None = None
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: str = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class StateUpdate(BaseModel):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None

    _checkpoint = field_validator("checkpoint")(checkpoint_ids_are_strings)


class StateAtCheckpoint(BaseModel):
    checkpoint: dict[str, Any]
    subgraphs: bool = False

    _checkpoint = field_validator("checkpoint")(checkpoint_ids_are_strings)


class HistoryQuery(BaseModel):
    limit: Limit = 10
    before: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    select: list[str] | None = None

    _checkpoints = field_validator("before", "checkpoint")(checkpoint_ids_are_strings)


class PruneResult(BaseModel):
    pruned_count: int = Field(description="How many threads were pruned.")


@router.post("", response_model_exclude_unset=True)
async def create_thread(
    services: ServicesDep, principal: PrincipalDep, body: Annotated[ThreadCreate | None, Body()] = None
) -> Thread:
    body = body or ThreadCreate()
    if body.supersteps:
        raise Conflict("supersteps on thread creation are not supported; create the thread, then POST its state")
    row = await threads.create_thread(
        services.pool,
        principal,
        thread_id=str(body.thread_id) if body.thread_id else None,
        metadata=body.metadata,
        if_exists=body.if_exists,
    )
    return Thread.from_row(row)


@router.post("/search", response_model=page_of(Thread), response_model_exclude_unset=True)
async def search_threads(
    body: ThreadSearch, services: ServicesDep, principal: PrincipalDep, response: Response
) -> list[dict[str, Any]]:
    rows, total = await threads.search_threads(
        services.pool,
        principal,
        ids=body.ids,
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    found = [Thread.from_row(r) for r in rows]
    return page(response, found, total=total, offset=body.offset, select=body.select)


@router.post("/count")
async def count_threads(
    services: ServicesDep, principal: PrincipalDep, body: Annotated[ThreadSearch | None, Body()] = None
) -> int:
    body = body or ThreadSearch()
    _, total = await threads.search_threads(
        services.pool, principal, metadata=body.metadata, values=body.values, status=body.status, count_only=True
    )
    return total


class ThreadPrune(BaseModel):
    thread_ids: list[uuid.UUID] = Field(..., min_length=1, max_length=1000, description="Threads to prune (UUIDs).")
    strategy: Literal["delete", "keep_latest"] = Field(
        "delete", description="`delete`: the threads and everything they own; `keep_latest`: all but the latest state."
    )


@router.post("/prune")
async def prune_threads(body: ThreadPrune, services: ServicesDep, principal: PrincipalDep) -> PruneResult:
    """LangGraph's prune: `delete`, or `keep_latest` (the threads stay, with their latest state)."""
    pruned = await service.prune_threads(services, principal, [str(t) for t in body.thread_ids], body.strategy)
    return PruneResult(pruned_count=pruned)


@router.get("/{thread_id}", response_model_exclude_unset=True)
async def get_thread(thread_id: str, services: ServicesDep, principal: PrincipalDep) -> Thread:
    return Thread.from_row(await threads.get_thread(services.pool, principal, thread_id))


@router.patch(
    "/{thread_id}",
    response_model=Thread,
    response_model_exclude_unset=True,
    responses={204: {"description": "With `Prefer: return=minimal`: no body."}},
)
async def patch_thread(
    thread_id: str, body: ThreadPatch, services: ServicesDep, principal: PrincipalDep, prefer: str | None = Header(None)
) -> Thread | Response:
    row = await threads.patch_thread(services.pool, principal, thread_id, body.metadata)
    if prefer == "return=minimal":
        return Response(status_code=204)
    return Thread.from_row(row)


@router.delete("/{thread_id}", status_code=204)
async def remove_thread(thread_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Its pending and running runs are cancelled first, then the thread and all it owns are deleted."""
    await service.delete_thread_and_runs(services, principal, thread_id)
    return Response(status_code=204)


@router.get("/{thread_id}/stream", response_class=StreamingResponse, responses=SSE_STREAM)
async def join_thread_stream(thread_id: str, services: ServicesDep, principal: PrincipalDep) -> Any:
    """Every run on the thread, from the one in flight now on, as SSE (the `run_modes` view)."""
    row = await threads.get_thread(services.pool, principal, thread_id)
    return StreamingResponse(
        service.thread_stream(services, principal, row["thread_id"]), media_type="text/event-stream; charset=utf-8"
    )


@router.post("/{thread_id}/copy", response_model_exclude_unset=True)
async def copy_thread(thread_id: str, services: ServicesDep, principal: PrincipalDep) -> Thread:
    """A new thread with the same metadata and a copy of every checkpoint (this answer has no `values` key)."""
    return Thread.from_row(await threads.copy_thread(services.pool, principal, thread_id), include_values=False)


@router.get("/{thread_id}/state")
async def get_state(
    thread_id: str, services: ServicesDep, principal: PrincipalDep, subgraphs: bool = False
) -> ThreadState:
    row = await threads.get_thread(services.pool, principal, thread_id)
    return await state.read_state(services.graph, str(row["thread_id"]), subgraphs=subgraphs)


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at(
    thread_id: str, body: StateAtCheckpoint, services: ServicesDep, principal: PrincipalDep
) -> ThreadState:
    row = await threads.get_thread(services.pool, principal, thread_id)
    return await state.read_state(
        services.graph, str(row["thread_id"]), checkpoint=body.checkpoint, subgraphs=body.subgraphs
    )


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_by_id(
    thread_id: str, checkpoint_id: str, services: ServicesDep, principal: PrincipalDep, subgraphs: bool = False
) -> ThreadState:
    row = await threads.get_thread(services.pool, principal, thread_id)
    return await state.read_state(
        services.graph, str(row["thread_id"]), checkpoint_id=checkpoint_id, subgraphs=subgraphs
    )


@router.post("/{thread_id}/state")
async def update_state(
    thread_id: str, body: StateUpdate, services: ServicesDep, principal: PrincipalDep
) -> StateUpdated:
    limits = services.settings
    check_messages(
        [("values", body.values)],
        max_message_chars=limits.max_message_chars,
        max_input_messages=limits.max_input_messages,
    )
    row = await threads.get_thread(services.pool, principal, thread_id)
    # A thread that never ran has no graph_id: this server serves one graph, so that is the one. A
    # graph_id it does not serve (set by hand in the metadata) cannot be edited with another's nodes.
    graph_id = (row["metadata"] or {}).get("graph_id")
    if graph_id is not None and graph_id not in services.graphs:
        raise InvalidRequest(
            f"thread {thread_id} is for graph {graph_id!r}, which this server does not serve "
            f"(it serves {', '.join(services.graphs)}); set the thread's metadata graph_id to one of those"
        )
    async with services.pool.connection() as conn:
        busy = bool(await repo.in_flight(conn, row["thread_id"]))
    try:
        result = await state.update_state(
            services.graph,
            str(row["thread_id"]),
            values=body.values,
            as_node=body.as_node,
            checkpoint=body.checkpoint,
            checkpoint_id=body.checkpoint_id,
            busy=busy,
        )
    except KeyError as exc:
        # A node's routing read a key the state does not have yet (as_node on a thread that never ran).
        raise InvalidRequest(
            f"as_node={body.as_node} cannot follow this thread's state: it has no {exc} yet; "
            "send those values too, or update as an earlier node (omit as_node on a new thread)"
        ) from exc
    except (InvalidUpdateError, ValueError, TypeError, NotImplementedError) as exc:
        # The graph refused the values (wrong shape, a message it cannot read) or as_node (no such node).
        raise Unprocessable(
            f"the graph cannot apply this update: {first_line(exc)}; send values shaped like the state "
            "(GET /assistants/{id}/schemas) and as_node naming one of its nodes"
        ) from exc
    snapshot = await services.graph.aget_state({"configurable": {"thread_id": str(row["thread_id"])}})
    await threads.set_status(
        services.pool,
        str(row["thread_id"]),
        "interrupted" if snapshot.next else "idle",
        values=to_json(snapshot.values),
        interrupts=state.interrupts_by_task(snapshot),
        with_state=True,
    )
    return result


@router.post("/{thread_id}/history")
async def post_history(
    thread_id: str, services: ServicesDep, principal: PrincipalDep, body: Annotated[HistoryQuery | None, Body()] = None
) -> list[ThreadState]:
    body = body or HistoryQuery()
    row = await threads.get_thread(services.pool, principal, thread_id)
    return await state.history(
        services.graph,
        str(row["thread_id"]),
        limit=body.limit,
        before=body.before,
        metadata=body.metadata,
        checkpoint=body.checkpoint,
    )


@router.get("/{thread_id}/history")
async def get_history(
    thread_id: str, services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 10, before: str | None = None
) -> list[ThreadState]:
    row = await threads.get_thread(services.pool, principal, thread_id)
    return await state.history(
        services.graph, str(row["thread_id"]), limit=limit, before=before, metadata=None, checkpoint=None
    )
