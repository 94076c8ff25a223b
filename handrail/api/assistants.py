"""Assistants: the graph's system assistant, user assistants, and the graph's shape and schemas."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator

from handrail import assistants
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import Limit, Offset, page, page_of
from handrail.assistants import Assistant, AssistantVersion
from handrail.runs.schemas import configurable_is_an_object
from handrail.runs.service import check_limits

router = APIRouter(prefix="/assistants", tags=["assistants"])


class AssistantCreate(BaseModel):
    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = None
    description: str | None = None

    _config = field_validator("config")(configurable_is_an_object)


class AssistantPatch(BaseModel):
    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None

    _config = field_validator("config")(configurable_is_an_object)


class AssistantVersionsSearch(BaseModel):
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0


class AssistantVersionChange(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1, description="The version to make active.")


class AssistantSearch(BaseModel):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: str | None = None
    sort_order: str | None = None
    select: list[str] | None = None


class GraphNode(BaseModel):
    """A node of the drawing; `__start__`/`__end__` may carry only an id."""

    id: str
    type: str | None = Field(None, description="`runnable` or `schema`.")
    data: Any = Field(None, description="The node's runnable (`{id, name}`) or schema name.")
    metadata: dict[str, Any] | None = None


class GraphEdge(BaseModel):
    source: str
    target: str
    data: Any = None
    conditional: bool = Field(False, description="Present, and true, on conditional edges only.")


class GraphDrawing(BaseModel):
    """The graph as `get_graph().to_json()` draws it (what Studio and RemoteGraph read)."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class GraphSchemas(BaseModel):
    """JSON schemas of the graph's input, output, state and run context; null where the graph has none."""

    graph_id: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None


class SubgraphSchemas(BaseModel):
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    state_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    context_schema: dict[str, Any] | None


@router.post("")
async def create_assistant(body: AssistantCreate, services: ServicesDep, principal: PrincipalDep) -> Assistant:
    check_limits(services, body.context)
    row = await assistants.create(
        services.pool,
        principal,
        graph_id=body.graph_id,
        graph_ids=list(services.graphs),
        assistant_id=body.assistant_id,
        config=body.config,
        context=body.context,
        metadata=body.metadata,
        name=body.name,
        description=body.description,
        if_exists=body.if_exists,
    )
    return Assistant.from_row(row)


@router.post("/search", response_model=page_of(Assistant), response_model_exclude_unset=True)
async def search_assistants(
    body: AssistantSearch, services: ServicesDep, principal: PrincipalDep, response: Response
) -> list[dict[str, Any]]:
    rows, total = await assistants.search(
        services.pool,
        principal,
        metadata=body.metadata,
        graph_id=body.graph_id,
        name=body.name,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    found = [Assistant.from_row(r) for r in rows]
    return page(response, found, total=total, offset=body.offset, select=body.select)


@router.post("/count")
async def count_assistants(body: AssistantSearch, services: ServicesDep, principal: PrincipalDep) -> int:
    _, total = await assistants.search(
        services.pool,
        principal,
        metadata=body.metadata,
        graph_id=body.graph_id,
        name=body.name,
        limit=1,
        offset=0,
        sort_by=None,
        sort_order=None,
    )
    return total


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: str, services: ServicesDep, principal: PrincipalDep) -> Assistant:
    return Assistant.from_row(await assistants.resolve(services.pool, principal, assistant_id, []))


@router.patch("/{assistant_id}")
async def patch_assistant(
    assistant_id: str, body: AssistantPatch, services: ServicesDep, principal: PrincipalDep
) -> Assistant:
    check_limits(services, body.context)
    row = await assistants.update(services.pool, principal, assistant_id, body.model_dump())
    return Assistant.from_row(row)


@router.delete("/{assistant_id}", status_code=204)
async def delete_assistant(assistant_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    await assistants.delete(services.pool, principal, assistant_id)
    return Response(status_code=204)


@router.post("/{assistant_id}/versions")
async def list_assistant_versions(
    assistant_id: str, body: AssistantVersionsSearch, services: ServicesDep, principal: PrincipalDep
) -> list[AssistantVersion]:
    rows = await assistants.versions(
        services.pool, principal, assistant_id, metadata=body.metadata, limit=body.limit, offset=body.offset
    )
    return [AssistantVersion.from_row(r) for r in rows]


@router.post("/{assistant_id}/latest")
async def set_latest_assistant_version(
    assistant_id: str, body: AssistantVersionChange, services: ServicesDep, principal: PrincipalDep
) -> Assistant:
    row = await assistants.set_latest(services.pool, principal, assistant_id, body.version)
    return Assistant.from_row(row)


@router.get("/{assistant_id}/graph", response_model_exclude_unset=True)
async def get_graph(
    assistant_id: str, services: ServicesDep, principal: PrincipalDep, xray: str = Query("false")
) -> GraphDrawing:
    row = await assistants.resolve(services.pool, principal, assistant_id, list(services.graphs))
    depth: int | bool = int(xray) if xray.isdigit() else xray.lower() == "true"
    drawable = services.graphs[row["graph_id"]].get_graph(xray=depth).to_json()
    # RemoteGraph splats each edge into Edge(**edge): only its own keys may appear (the model keeps only those).
    return GraphDrawing.model_validate(drawable)


@router.get("/{assistant_id}/schemas")
async def get_schemas(assistant_id: str, services: ServicesDep, principal: PrincipalDep) -> GraphSchemas:
    row = await assistants.resolve(services.pool, principal, assistant_id, [])
    graph = services.graphs[row["graph_id"]]
    return GraphSchemas(
        graph_id=row["graph_id"],
        input_schema=graph.get_input_jsonschema(),
        output_schema=graph.get_output_jsonschema(),
        state_schema=_state_schema(graph),
        config_schema={},  # the agent takes its per-run settings as context (below), not configurable
        context_schema=graph.get_context_jsonschema(),
    )


@router.get("/{assistant_id}/subgraphs")
@router.get("/{assistant_id}/subgraphs/{namespace}")
async def get_subgraphs(
    assistant_id: str, services: ServicesDep, principal: PrincipalDep, namespace: str | None = None
) -> dict[str, SubgraphSchemas]:
    await assistants.resolve(services.pool, principal, assistant_id, [])
    return {}  # the agent graph has no subgraphs


def _state_schema(graph: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(graph.builder.state_schema).json_schema(mode="serialization")
