"""The long-term memory store behind the /store API: every item belongs to one user, who alone can see it.

Items live in LangGraph's store under `("users", <owner>, *namespace)`. The API takes and returns only
`namespace`; the owner prefix is added on the way in and stripped on the way out, so no request can name,
read or list another user's items. The prefix is tools.memory's `user_namespace()`, which the agent's `remember`
tool writes under (namespace `["memories"]`), so a user sees and deletes its memories here, through /memories
(`list_memories`, `delete_memory`) and in Studio's Memory view; items put into `memories` through this API are held
to the same rule as the tool's: no card number, SSN or secret (guardrails.retention).

Semantic search: `query` is accepted for wire compatibility, but unless the store was built with an embedding
index (`AsyncPostgresStore(pool, index=...)`, not configured in Handrail) it does not rank or filter anything:
results are the items matching `namespace_prefix` and `filter`, newest first, each with `score: null`. This is
what LangGraph Server itself does without an index; `semantic_search_enabled()` tells the API layer so it can
say so in a response header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langgraph.store.base import BaseStore, Item, SearchItem

from guardrails import retention
from handrail.auth import Principal
from handrail.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from tools.memory import MEMORIES, OWNER_ROOT, owner_label

FILTER_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_RESERVED_ROOT = "langgraph"  # LangGraph reserves this first label for its own use


def owned_namespace(user_id: str, namespace: Sequence[str]) -> tuple[str, ...]:
    """The store namespace holding `namespace` for `user_id`: `("users", <encoded user id>, *namespace)`, the
    layout tools.memory writes the agent's memories in."""
    return (OWNER_ROOT, _owner_label(user_id), *namespace)


def split_namespace(dotted: str) -> tuple[str, ...]:
    """A namespace as GET query strings carry it (`a.b.c`); the empty string is the empty namespace."""
    return tuple(dotted.split(".")) if dotted else ()


def semantic_search_enabled(store: BaseStore) -> bool:
    """Whether `query` ranks results by similarity (only with an embedding index on the store)."""
    return bool(getattr(store, "index_config", None))


async def put_item(
    store: BaseStore,
    principal: Principal,
    namespace: Sequence[str],
    key: str,
    value: Any,
    index: Literal[False] | list[str] | None = None,
    ttl: float | None = None,
) -> None:
    """Create or replace the caller's item. `ttl` is in minutes (None: never expires)."""
    labels = _labels(namespace, "namespace")
    if not labels:
        raise Unprocessable('namespace must have at least one label, e.g. ["notes"]')
    if labels[0] == _RESERVED_ROOT:
        raise Unprocessable(f"namespace may not start with {_RESERVED_ROOT!r}: LangGraph reserves it; pick another")
    _check_key(key)
    if not isinstance(value, dict):
        raise Unprocessable(f'value must be a JSON object, got {_json_type(value)}; wrap it, e.g. {{"value": ...}}')
    if _has_nul(value):
        raise Unprocessable("value contains a NUL character (\\u0000), which Postgres cannot store; remove it")
    if ttl is not None and ttl <= 0:
        raise Unprocessable(f"ttl is minutes until expiry and must be > 0, got {ttl}; send null for no expiry")
    # The agent's memories hold no card number, SSN or secret, whichever way they are written.
    if labels[0] == MEMORIES and (why := retention.refusal(value)):
        raise Unprocessable(f"this item was not stored in {MEMORIES!r}: {why}")
    await store.aput(owned_namespace(principal.user_id, labels), key, value, index=index, ttl=ttl)


async def get_item(
    store: BaseStore,
    principal: Principal,
    namespace: Sequence[str],
    key: str,
    refresh_ttl: bool | None = None,
) -> dict[str, Any] | None:
    """The caller's item, or None when it does not exist (or belongs to someone else)."""
    labels = _labels(namespace, "namespace")
    _check_key(key)
    item = await store.aget(owned_namespace(principal.user_id, labels), key, refresh_ttl=refresh_ttl)
    return None if item is None else _item_dict(item)


async def delete_item(store: BaseStore, principal: Principal, namespace: Sequence[str], key: str) -> None:
    """Delete the caller's item; deleting an item that does not exist is not an error."""
    labels = _labels(namespace, "namespace")
    _check_key(key)
    await store.adelete(owned_namespace(principal.user_id, labels), key)


async def search_items(
    store: BaseStore,
    principal: Principal,
    namespace_prefix: Sequence[str],
    filter: Mapping[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    query: str | None = None,
    refresh_ttl: bool | None = None,
) -> list[dict[str, Any]]:
    """The caller's items under `namespace_prefix` (all of them for `[]`) that match `filter`.

    Each item is `{namespace, key, value, created_at, updated_at, score}`. Without an embedding index on the
    store (Handrail configures none) `query` is ignored: results are ordered newest first and `score` is None.
    """
    labels = _labels(namespace_prefix, "namespace_prefix")
    _check_filter(filter)
    found = await store.asearch(
        owned_namespace(principal.user_id, labels),
        query=query,
        filter=dict(filter) if filter else None,
        limit=limit,
        offset=offset,
        refresh_ttl=refresh_ttl,
    )
    return [_item_dict(item) for item in found]


async def list_namespaces(
    store: BaseStore,
    principal: Principal,
    prefix: Sequence[str] | None = None,
    suffix: Sequence[str] | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[list[str]]:
    """The caller's namespaces that start with `prefix` and end with `suffix`, cut to `max_depth` labels.

    A `"*"` label in `prefix` or `suffix` matches any one label, as in LangGraph.
    """
    head = _labels(prefix or (), "prefix")
    tail = _labels(suffix or (), "suffix")
    if max_depth is not None and max_depth < 1:
        raise Unprocessable(f"max_depth must be at least 1, got {max_depth}; omit it for full namespaces")
    # The suffix must match inside the caller's own labels, never across the owner prefix: require at
    # least len(suffix) labels after it by padding the prefix with one-label wildcards.
    padded = (*head, *("*",) * (len(tail) - len(head)))
    found = await store.alist_namespaces(
        prefix=owned_namespace(principal.user_id, padded),
        suffix=tail or None,
        max_depth=None if max_depth is None else max_depth + 2,
        limit=limit,
        offset=offset,
    )
    return [list(ns[2:]) for ns in found]


def memory_owner(principal: Principal, user_id: str | None) -> str:
    """Whose memories a request reads or deletes: the caller's own; another user's only with an admin key."""
    if user_id is None or user_id == principal.user_id:
        return principal.user_id
    if not principal.is_admin:
        raise Forbidden(f"only an admin API key may see or delete {user_id}'s memories; leave out user_id for your own")
    return user_id


async def list_memories(store: BaseStore, owner: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """What the agent remembers for `owner`, newest first: `{id, text, created_at, updated_at, source_thread}`."""
    items = await store.asearch(owned_namespace(owner, (MEMORIES,)), limit=limit, offset=offset)
    return [
        {
            "id": item.key,
            "text": str(item.value.get("text", "")),
            "created_at": item.created_at.isoformat(),
            "updated_at": item.updated_at.isoformat(),
            "source_thread": item.value.get("source_thread"),
        }
        for item in items
    ]


async def delete_memory(store: BaseStore, owner: str, memory_id: str) -> None:
    """Delete one of `owner`'s memories; NotFound when they have none with that id."""
    namespace = owned_namespace(owner, (MEMORIES,))
    _check_key(memory_id)
    if await store.aget(namespace, memory_id) is None:
        raise NotFound(f"{owner} has no memory {memory_id!r}; GET /memories lists their memories and ids")
    await store.adelete(namespace, memory_id)


def _item_dict(item: Item) -> dict[str, Any]:
    return {
        "namespace": list(item.namespace[2:]),  # strip ("users", <owner>)
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
        "score": item.score if isinstance(item, SearchItem) else None,
    }


def _owner_label(user_id: str) -> str:
    if not user_id:
        raise Unauthorized("this API key maps to an empty user id; give the key a user id (`key:user_id`)")
    return owner_label(user_id)


def _labels(namespace: Sequence[str], field: str) -> tuple[str, ...]:
    labels = tuple(namespace)
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise Unprocessable(f"{field}[{i}] must be a string, got {_json_type(label)}")
        if not label:
            raise Unprocessable(f"{field}[{i}] is empty; namespace labels must be non-empty strings")
        if "." in label:
            raise Unprocessable(
                f"{field}[{i}] {label!r} contains '.', which separates labels; "
                f"split it into labels instead, e.g. {label.split('.')!r}"
            )
        if "\x00" in label:
            raise Unprocessable(f"{field}[{i}] contains a NUL character; remove it")
    return labels


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise Unprocessable("key must be a non-empty string")
    if "\x00" in key:
        raise Unprocessable("key contains a NUL character, which Postgres cannot store; remove it")


def _check_filter(filter: Mapping[str, Any] | None) -> None:
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise Unprocessable(f"filter must be a JSON object of field conditions, got {_json_type(filter)}")
    for field, condition in filter.items():
        if isinstance(condition, Mapping):
            unknown = [op for op in condition if op not in FILTER_OPERATORS]
            if unknown:
                raise Unprocessable(
                    f"filter.{field}: unsupported operator {unknown[0]!r}; use one of {', '.join(FILTER_OPERATORS)} "
                    f'(to match a nested object exactly, write {{"{field}": {{"$eq": {{...}}}}}})'
                )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
