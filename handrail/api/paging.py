"""Search responses as the SDK reads them: pagination headers and `select`."""

from __future__ import annotations

from typing import Any

from fastapi import Response


def page(
    response: Response, items: list[dict[str, Any]], *, total: int, offset: int, select: list[str] | None
) -> list[dict[str, Any]]:
    response.headers["X-Pagination-Total"] = str(total)
    if offset + len(items) < total:
        response.headers["X-Pagination-Next"] = str(offset + len(items))
    return [{k: v for k, v in item.items() if k in select} for item in items] if select else items
