"""Assistants: one system assistant per graph (deterministic id), plus user-created configurations."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound, Unprocessable
from handrail.sql import paged

# The namespace the LangGraph server derives system assistant ids from (not a Python uuid.NAMESPACE_*).
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
_COLUMNS = (
    "assistant_id, graph_id, user_id, name, description, config, context, metadata, version, created_at, updated_at"
)


def system_assistant_id(graph_id: str) -> uuid.UUID:
    return uuid.uuid5(ASSISTANT_NAMESPACE, graph_id)


def assistant_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "assistant_id": str(row["assistant_id"]),
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "metadata": row["metadata"],
        "version": row["version"],
        "name": row["name"],
        "description": row["description"],
    }


async def register_graphs(pool: Pool, graph_ids: list[str]) -> None:
    async with pool.connection() as conn:
        for graph_id in graph_ids:
            await conn.execute(
                "INSERT INTO assistants (assistant_id, graph_id, name, metadata) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (assistant_id) DO NOTHING",
                (system_assistant_id(graph_id), graph_id, graph_id, Jsonb({"created_by": "system"})),
            )


def parse_id(assistant_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(assistant_id)
    except ValueError as exc:
        raise Unprocessable(f"invalid assistant ID {assistant_id!r}: must be a UUID") from exc


async def resolve(pool: Pool, principal: Principal, id_or_graph: str, graph_ids: list[str]) -> dict[str, Any]:
    """An assistant by UUID, or a graph id naming its system assistant (as runs accept)."""
    aid = system_assistant_id(id_or_graph) if id_or_graph in graph_ids else parse_id(id_or_graph)
    async with pool.connection() as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM assistants WHERE assistant_id = %s", (aid,))
        ).fetchone()
    if row is None or not principal.owns(row["user_id"]):
        raise NotFound(f"assistant {id_or_graph} not found; GET /assistants/search lists them")
    return row


async def create(
    pool: Pool,
    principal: Principal,
    *,
    graph_id: str,
    graph_ids: list[str],
    assistant_id: str | None,
    config: dict[str, Any],
    context: dict[str, Any],
    metadata: dict[str, Any],
    name: str | None,
    description: str | None,
    if_exists: str,
) -> dict[str, Any]:
    if graph_id not in graph_ids:
        raise NotFound(f"graph {graph_id!r} not found; available graphs: {', '.join(graph_ids)}")
    aid = parse_id(assistant_id) if assistant_id else uuid.uuid4()
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "INSERT INTO assistants (assistant_id, graph_id, user_id, name, description, config, context, "
                "metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (assistant_id) DO NOTHING "
                f"RETURNING {_COLUMNS}",
                (
                    aid,
                    graph_id,
                    principal.user_id,
                    name or graph_id,
                    description,
                    Jsonb(config),
                    Jsonb(context),
                    Jsonb(metadata),
                ),
            )
        ).fetchone()
    if row is not None:
        return row
    if if_exists == "do_nothing":
        return await resolve(pool, principal, str(aid), [])
    raise Conflict(f"assistant {aid} already exists; pass if_exists='do_nothing' to reuse it")


async def update(pool: Pool, principal: Principal, assistant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    row = await resolve(pool, principal, assistant_id, [])
    if row["user_id"] is None and not principal.is_admin:
        raise Conflict("system assistants cannot be changed; create your own assistant with POST /assistants")
    sets, params = ["version = version + 1", "updated_at = now()"], []
    for key in ("graph_id", "name", "description"):
        if changes.get(key) is not None:
            sets.append(f"{key} = %s")
            params.append(changes[key])
    for key in ("config", "context", "metadata"):
        if changes.get(key) is not None:
            sets.append(f"{key} = %s")
            params.append(Jsonb(changes[key]))
    async with pool.connection() as conn:
        updated = await (
            await conn.execute(
                f"UPDATE assistants SET {', '.join(sets)} WHERE assistant_id = %s RETURNING {_COLUMNS}",
                [*params, row["assistant_id"]],
            )
        ).fetchone()
    assert updated is not None
    return updated


async def delete(pool: Pool, principal: Principal, assistant_id: str) -> None:
    row = await resolve(pool, principal, assistant_id, [])
    if row["user_id"] is None:
        raise Conflict("system assistants cannot be deleted")
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM assistants WHERE assistant_id = %s", (row["assistant_id"],))


async def search(
    pool: Pool,
    principal: Principal,
    *,
    metadata: dict[str, Any] | None,
    graph_id: str | None,
    name: str | None,
    limit: int,
    offset: int,
    sort_by: str | None,
    sort_order: str | None,
) -> tuple[list[dict[str, Any]], int]:
    where, params = ["(user_id IS NULL OR user_id = %s OR %s)"], [principal.user_id, principal.is_admin]
    if metadata:
        where.append("metadata @> %s")
        params.append(Jsonb(metadata))
    if graph_id:
        where.append("graph_id = %s")
        params.append(graph_id)
    if name:
        where.append("name ILIKE %s")
        params.append(f"%{name}%")
    return await paged(
        pool,
        table="assistants",
        columns=_COLUMNS,
        where=where,
        params=params,
        sortable=("assistant_id", "graph_id", "name", "created_at", "updated_at"),
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit,
        offset=offset,
    )
