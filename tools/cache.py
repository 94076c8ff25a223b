"""Which tool results may be served again, and under which key. The store is any LangGraph `BaseCache`
(the service's is `handrail.cache.AsyncRedisCache`); the runner reads and writes it around the call.

Why not LangGraph's `CachePolicy` on the execute node: a node's cache key is a function of the node's whole
input, the graph state (messages, plan, observations, cursor), which differs at every step of every run, so
it would almost never hit; and a hit would skip the whole node, with the tool-policy guardrail, the approval
gate, the audit record and the output fence inside it. Tool calls are the unit worth caching, so the runner
caches them on LangGraph's own interface (`BaseCache.aget`/`aset`, namespaces and TTLs as `CachePolicy`
uses them), where it knows the tool, its declaration and the user.

What is cached: successful results of tools declared `risk="read"`, idempotent and with a `cache_ttl_s`
(ToolSpec refuses a TTL on anything else); never a failure; per user when the tool says
`cache_per_user`. Key: the tool and its validated, canonical arguments (`tools.gate.call_digest`), so
arguments that differ only in key order or spacing share an entry.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal, Protocol, runtime_checkable

from langgraph.cache.base import BaseCache, FullKey
from pydantic import BaseModel

from tools.base import ToolEnv, ToolResult, ToolSpec
from tools.gate import call_digest

NAMESPACE = "tool"
CacheOutcome = Literal["hit", "miss", "skipped"]


def cache_key(spec: ToolSpec[Any], args: BaseModel, env: ToolEnv) -> FullKey | None:
    """The entry this call reads and writes, or None when the tool's results are not cached. A per-user
    entry carries a digest of the user id, not the id: cache keys are listed by anyone with Redis access."""
    if not spec.cacheable:
        return None
    namespace: tuple[str, ...] = (NAMESPACE, spec.name)
    if spec.cache_per_user:
        namespace = (*namespace, "user", hashlib.sha256(env.user_id.encode()).hexdigest()[:24])
    digest = call_digest(spec.name, args.model_dump(mode="json")).removeprefix("sha256:")
    return namespace, digest


def cache_ttl(spec: ToolSpec[Any]) -> int:
    """`BaseCache` takes whole seconds (as `CachePolicy.ttl` does): a fraction is rounded up."""
    return max(1, math.ceil(spec.cache_ttl_s or 1))


def stored(result: ToolResult) -> dict[str, Any]:
    """What is written for a successful result (a dict, so that `data=None` is still a hit)."""
    return {"data": result.data}


def restored(value: Any) -> ToolResult | None:
    """The result a cached value stands for; None for anything this module did not write."""
    if isinstance(value, dict) and set(value) == {"data"}:
        return ToolResult.success(value["data"])
    return None


@runtime_checkable
class DegradableCache(Protocol):
    """A cache that can say it is being skipped (its backend is down), for metrics and `/ok`."""

    def cache_degraded(self) -> str | None: ...


def degraded(cache: BaseCache[Any]) -> str | None:
    """Why `cache` is being skipped now, or None when it answers (or cannot tell)."""
    return cache.cache_degraded() if isinstance(cache, DegradableCache) else None
