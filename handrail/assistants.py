"""Assistants: one system assistant per graph (deterministic id), plus user-created configurations.

`assistants` holds each assistant's active version (what GET answers and runs read); `assistant_versions` holds
every version: PATCH writes a new one and makes it active, `set_latest` makes an older one active again.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from handrail.auth import Principal
from handrail.db import Pool
from handrail.errors import Conflict, NotFound, Unprocessable
from handrail.sql import paged
from handrail.wire import Timestamp

# The namespace the LangGraph server derives system assistant ids from (not a Python uuid.NAMESPACE_*).
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
_COLUMNS = (
    "assistant_id, graph_id, user_id, name, description, config, context, metadata, version, created_at, updated_at"
)
_VERSION_COLUMNS = "assistant_id, version, graph_id, name, description, config, context, metadata, created_at"
_RECORD_VERSION = (
    f"INSERT INTO assistant_versions ({_VERSION_COLUMNS}) "
    f"SELECT {_VERSION_COLUMNS.replace('created_at', 'updated_at')} FROM assistants WHERE assistant_id = %s "
    "ON CONFLICT (assistant_id, version) DO NOTHING"
)


def system_assistant_id(graph_id: str) -> uuid.UUID:
    return uuid.uuid5(ASSISTANT_NAMESPACE, graph_id)


class Assistant(BaseModel):
    """A graph with a configuration: the graph's system assistant, or one a user made. Runs name one."""

    assistant_id: uuid.UUID
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any] = Field(description="The run context its runs get (the agent's per-run settings).")
    created_at: Timestamp
    updated_at: Timestamp
    metadata: dict[str, Any] = Field(description='Free-form; `{"created_by": "system"}` on a system assistant.')
    version: int = Field(description="The active version (POST /assistants/{id}/latest changes it).")
    name: str
    description: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Assistant:
        return cls(**{k: row[k] for k in cls.model_fields})


class AssistantVersion(BaseModel):
    """One version of an assistant, as PATCH wrote it."""

    assistant_id: uuid.UUID
    version: int
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    created_at: Timestamp
    name: str
    description: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AssistantVersion:
        return cls(**{k: row[k] for k in cls.model_fields})


async def register_graphs(pool: Pool, graph_ids: list[str]) -> None:
    async with pool.connection() as conn:
        for graph_id in graph_ids:
            await conn.execute(
                "INSERT INTO assistants (assistant_id, graph_id, name, metadata) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (assistant_id) DO NOTHING",
                (system_assistant_id(graph_id), graph_id, graph_id, Jsonb({"created_by": "system"})),
            )
            await conn.execute(_RECORD_VERSION, (system_assistant_id(graph_id),))


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
    async with pool.connection() as conn, conn.transaction():
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
            await conn.execute(_RECORD_VERSION, (aid,))
    if row is not None:
        return row
    if if_exists == "do_nothing":
        return await resolve(pool, principal, str(aid), [])
    raise Conflict(f"assistant {aid} already exists; pass if_exists='do_nothing' to reuse it")


async def update(pool: Pool, principal: Principal, assistant_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write a new version from the active one and the changes, and make it active.

    As the LangGraph server does: given fields replace the active version's, metadata is merged into it, and
    the new version number is one past the highest, even when an older version is active.
    """
    row = await resolve(pool, principal, assistant_id, [])
    if row["user_id"] is None and not principal.is_admin:
        raise Conflict("system assistants cannot be changed; create your own assistant with POST /assistants")
    sets, params = ["updated_at = now()"], []
    for key in ("graph_id", "name", "description"):
        if changes.get(key) is not None:
            sets.append(f"{key} = %s")
            params.append(changes[key])
    for key in ("config", "context"):
        if changes.get(key) is not None:
            sets.append(f"{key} = %s")
            params.append(Jsonb(changes[key]))
    if changes.get("metadata") is not None:
        sets.append("metadata = metadata || %s")
        params.append(Jsonb(changes["metadata"]))
    async with pool.connection() as conn, conn.transaction():
        # The row lock orders concurrent PATCHes, so each gets its own version number.
        await conn.execute("SELECT 1 FROM assistants WHERE assistant_id = %s FOR UPDATE", (row["assistant_id"],))
        updated = await (
            await conn.execute(
                f"UPDATE assistants SET {', '.join(sets)}, version = (SELECT coalesce(max(version), 0) + 1 "
                "FROM assistant_versions WHERE assistant_id = %s) "
                f"WHERE assistant_id = %s RETURNING {_COLUMNS}",
                [*params, row["assistant_id"], row["assistant_id"]],
            )
        ).fetchone()
        await conn.execute(_RECORD_VERSION, (row["assistant_id"],))
    assert updated is not None
    return updated


async def versions(
    pool: Pool, principal: Principal, assistant_id: str, *, metadata: dict[str, Any] | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The assistant's versions, newest first, those whose metadata contains `metadata`."""
    row = await resolve(pool, principal, assistant_id, [])
    where, params = ["assistant_id = %s"], [row["assistant_id"]]
    if metadata:
        where.append("metadata @> %s")
        params.append(Jsonb(metadata))
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM assistant_versions WHERE {' AND '.join(where)} "
            "ORDER BY version DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        rows = await cur.fetchall()
    if not rows:
        # The LangGraph server answers 404, not [], when no version matches the filter or the page.
        raise NotFound(f"no versions of assistant {assistant_id} match; drop the metadata filter or the offset")
    return rows


async def set_latest(pool: Pool, principal: Principal, assistant_id: str, version: int) -> dict[str, Any]:
    """Make `version` the active one: GET answers with its fields and later runs use its config and context."""
    row = await resolve(pool, principal, assistant_id, [])
    if row["user_id"] is None and not principal.is_admin:
        raise Conflict("system assistants cannot be changed; create your own assistant with POST /assistants")
    async with pool.connection() as conn:
        updated = await (
            await conn.execute(
                "UPDATE assistants a SET version = v.version, graph_id = v.graph_id, name = v.name, "
                "description = v.description, config = v.config, context = v.context, metadata = v.metadata, "
                "updated_at = now() FROM assistant_versions v "
                "WHERE a.assistant_id = %s AND v.assistant_id = a.assistant_id AND v.version = %s "
                f"RETURNING {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}",
                (row["assistant_id"], version),
            )
        ).fetchone()
    if updated is None:
        raise NotFound(
            f"version {version} of assistant {assistant_id} not found; "
            f"POST /assistants/{assistant_id}/versions lists them"
        )
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
