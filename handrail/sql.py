"""The one paged, filtered, sorted SELECT the search endpoints share."""

from __future__ import annotations

from typing import Any

from handrail.db import Pool


async def paged(
    pool: Pool,
    *,
    table: str,
    columns: str,
    where: list[str],
    params: list[Any],
    sortable: tuple[str, ...],
    sort_by: str | None,
    sort_order: str | None,
    limit: int,
    offset: int,
    key: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Rows `offset`…`offset+limit` and the total count. Sort columns come from a whitelist, never the caller;
    `key`, the table's unique column, breaks ties so that pages neither repeat nor skip a row."""
    column = sort_by if sort_by in sortable else "created_at"
    order = "ASC" if (sort_order or "desc").lower() == "asc" else "DESC"
    clause = " AND ".join(where) or "TRUE"
    tiebreak = f", {key}" if key else ""
    async with pool.connection() as conn:
        total = await (await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {clause}", params)).fetchone()
        rows = []
        if limit > 0:
            rows = await (
                await conn.execute(
                    f"SELECT {columns} FROM {table} WHERE {clause} ORDER BY {column} {order}{tiebreak} "
                    f"LIMIT %s OFFSET %s",
                    [*params, limit, offset],
                )
            ).fetchall()
    return rows, int(total["n"]) if total else 0
