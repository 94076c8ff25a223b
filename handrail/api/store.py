"""The store API (LangGraph Server's /store routes, Studio's Memory view): each user's own long-term memory."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from handrail import memory
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import Limit, Offset

router = APIRouter(tags=["store"])

SEARCH_MODE_HEADER = "X-Handrail-Search-Mode"
MAX_NAMESPACE_DEPTH = 1000  # the store compares it with an int4 column
# The store writes the TTL into an interval literal in seconds: below 10^-4 s Python writes it in exponent
# notation, which Postgres refuses; above ten years it means "never" in practice (timestamps end in year 294276).
MIN_TTL_MINUTES = 0.001
MAX_TTL_MINUTES = 10 * 365 * 24 * 60

_NAMESPACE = 'Labels of a hierarchical namespace, e.g. ["notes", "travel"]; labels are non-empty and contain no \'.\'.'


class PutItemRequest(BaseModel):
    namespace: list[str] = Field(description=_NAMESPACE)
    key: str = Field(description="The item's id within its namespace.")
    # Typed loosely so that a non-object gets Handrail's own 422 message; documented as an object.
    value: Any = Field(description="The item: a JSON object.", json_schema_extra={"type": "object"})
    index: Literal[False] | list[str] | None = Field(
        default=None, description="Fields to embed for semantic search, or false for none (no index is configured)."
    )
    ttl: float | None = Field(
        default=None,
        ge=MIN_TTL_MINUTES,
        le=MAX_TTL_MINUTES,
        description="Minutes until the item expires, from 0.001 (60 ms) to ten years; null for never.",
    )


class DeleteItemRequest(BaseModel):
    namespace: list[str] = Field(description=_NAMESPACE)
    key: str


class SearchItemsRequest(BaseModel):
    namespace_prefix: list[str] = Field(default_factory=list, description="Search this namespace and below.")
    filter: dict[str, Any] | None = Field(
        default=None,
        description='Top-level value fields to match: a value for equality, or {"$eq|$ne|$gt|$gte|$lt|$lte": v}.',
    )
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = Field(
        default=None,
        description="Natural-language query. Without an embedding index (the default) it is ignored: results are "
        f"filter matches, newest first, with score null, and the response carries `{SEARCH_MODE_HEADER}: filter-only`.",
    )
    refresh_ttl: bool | None = Field(default=None, description="Restart the TTL of the returned items.")


class ListNamespacesRequest(BaseModel):
    prefix: list[str] | None = Field(default=None, description="Namespaces starting with these labels ('*' = any).")
    suffix: list[str] | None = Field(default=None, description="Namespaces ending with these labels ('*' = any).")
    max_depth: int | None = Field(
        default=None, ge=1, le=MAX_NAMESPACE_DEPTH, description="Cut namespaces to this many labels."
    )
    limit: Limit = 100
    offset: Offset = 0


class Item(BaseModel):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: str
    updated_at: str


class SearchItem(Item):
    score: float | None = None


class SearchItemsResponse(BaseModel):
    items: list[SearchItem]


class ListNamespacesResponse(BaseModel):
    namespaces: list[list[str]]


@router.put("/store/items", status_code=204, response_class=Response)
async def put_item(body: PutItemRequest, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Create or replace an item in the caller's store."""
    await memory.put_item(
        services.store, principal, body.namespace, body.key, body.value, index=body.index, ttl=body.ttl
    )
    return Response(status_code=204)


@router.get("/store/items", response_model=Item | None)
async def get_item(
    services: ServicesDep,
    principal: PrincipalDep,
    key: str,
    namespace: Annotated[str, Query(description="The namespace's labels joined with '.', e.g. notes.travel")] = "",
    refresh_ttl: bool | None = None,
) -> dict[str, Any] | None:
    """One of the caller's items, or null when there is none."""
    return await memory.get_item(
        services.store, principal, memory.split_namespace(namespace), key, refresh_ttl=refresh_ttl
    )


@router.delete("/store/items", status_code=204, response_class=Response)
async def delete_item(body: DeleteItemRequest, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete one of the caller's items (no error when it does not exist)."""
    await memory.delete_item(services.store, principal, body.namespace, body.key)
    return Response(status_code=204)


@router.post("/store/items/search", response_model=SearchItemsResponse)
async def search_items(
    body: SearchItemsRequest, response: Response, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The caller's items under a namespace prefix that match a filter."""
    items = await memory.search_items(
        services.store,
        principal,
        body.namespace_prefix,
        filter=body.filter,
        limit=body.limit,
        offset=body.offset,
        query=body.query,
        refresh_ttl=body.refresh_ttl,
    )
    if body.query and not memory.semantic_search_enabled(services.store):
        response.headers[SEARCH_MODE_HEADER] = "filter-only"
    return {"items": items}


@router.post("/store/namespaces", response_model=ListNamespacesResponse)
async def list_namespaces(
    body: ListNamespacesRequest, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The caller's namespaces, filtered by prefix and suffix."""
    namespaces = await memory.list_namespaces(
        services.store,
        principal,
        prefix=body.prefix,
        suffix=body.suffix,
        max_depth=body.max_depth,
        limit=body.limit,
        offset=body.offset,
    )
    return {"namespaces": namespaces}
