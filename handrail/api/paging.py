"""Search responses as the SDK reads them (pagination headers and `select`), and the bounds every `limit` and
`offset` share, so that no page request reaches Postgres with a value it refuses (negative, beyond bigint)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Response
from pydantic import BaseModel, Field

from handrail.wire import selection_of

M = TypeVar("M")

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # far past any real page, far inside bigint (and int4)

_LIMIT = f"Most items to return (1 to {MAX_LIMIT})."
_OFFSET = f"Items to skip (0 to {MAX_OFFSET})."

# For request bodies (pydantic models).
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=_LIMIT)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description=_OFFSET)]
# For query parameters.
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=_LIMIT)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=_OFFSET)]


def page_of(model: type[BaseModel]) -> Any:
    """The response model of a search: a list of `model`s, each with only the keys `select` names."""
    return list[selection_of(model)]  # type: ignore[misc]


def page(
    response: Response, items: Sequence[BaseModel], *, total: int, offset: int, select: list[str] | None
) -> list[dict[str, Any]]:
    """The items with only the `select`ed keys (all of them without), for a route whose response model is the
    items' `selection_of` and which excludes unset keys: a key not selected, or absent, stays absent."""
    response.headers["X-Pagination-Total"] = str(total)
    if offset + len(items) < total:
        response.headers["X-Pagination-Next"] = str(offset + len(items))
    keep = set(select) if select else None
    return [item.model_dump(include=keep, exclude_unset=True) for item in items]


def keyset_page(response: Response, items: list[M], *, next_after: int | None) -> list[M]:
    """A page read by cursor: X-Pagination-Next is the `after` of the next page, absent on the last one."""
    if next_after is not None:
        response.headers["X-Pagination-Next"] = str(next_after)
    return items
