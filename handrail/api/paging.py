"""Search responses as the SDK reads them (pagination headers and `select`), and the bounds every `limit` and
`offset` share, so that no page request reaches Postgres with a value it refuses (negative, beyond bigint)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import Field

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


def page(
    response: Response, items: list[dict[str, Any]], *, total: int, offset: int, select: list[str] | None
) -> list[dict[str, Any]]:
    response.headers["X-Pagination-Total"] = str(total)
    if offset + len(items) < total:
        response.headers["X-Pagination-Next"] = str(offset + len(items))
    return [{k: v for k, v in item.items() if k in select} for item in items] if select else items


def keyset_page(response: Response, items: list[dict[str, Any]], *, next_after: int | None) -> list[dict[str, Any]]:
    """A page read by cursor: X-Pagination-Next is the `after` of the next page, absent on the last one."""
    if next_after is not None:
        response.headers["X-Pagination-Next"] = str(next_after)
    return items
