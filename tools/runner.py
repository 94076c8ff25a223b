"""Runs one validated tool call: enforces its timeout and turns every failure into a ToolResult; with a
`ToolResilience`, also serves cached results of read tools, retries idempotent tools after transient
failures and keeps a breaker per tool.

Retries happen here, around one tool call, rather than as a `RetryPolicy` on the execute node: the node
also asks the executor model, the approval gate and the audit log, and never raises (a failed call is an
observation), so a node-level retry would re-run the wrong things or never fire. The policy is still
LangGraph's `RetryPolicy` (attempts, backoff, `retry_on`), read the same way, with two differences: a
non-idempotent tool gets one attempt whatever the policy says, and the jitter is proportional (half to
all of the interval) instead of up to a second, which would dwarf a tool's timeout.

Time: each attempt gets at most `spec.timeout_s`, and the cache lookup, all attempts and the backoffs
between them share `timeout_s` (the run's TOOL_TIMEOUT_S): a retry never takes a call past it. (Writing a
result to the cache comes after, bounded by the cache's own timeout.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.cache.base import BaseCache, FullKey
from langgraph.types import RetryPolicy
from pydantic import BaseModel

from tools.base import ToolEnv, ToolResult, ToolSpec
from tools.breaker import ToolBreakers
from tools.cache import CacheOutcome, cache_key, cache_ttl, degraded, restored, stored

logger = logging.getLogger("handrail.tools")

MIN_ATTEMPT_S = 0.05  # a retry that would have less time than this is not started


@dataclass(frozen=True)
class ToolResilience:
    """What the runner adds around a call; each part is optional. Built from settings by
    `handrail.wiring.tool_resilience_from_settings`."""

    retry: RetryPolicy | None = None  # None: one attempt
    breakers: ToolBreakers | None = None
    cache: BaseCache[Any] | None = None
    on_cache: Callable[[str, CacheOutcome], None] | None = None  # (tool, hit/miss/skipped): metrics
    on_retry: Callable[[str], None] | None = None  # (tool) each time a call is tried again: metrics
    on_refusal: Callable[[str], None] | None = None  # (tool) each call an open breaker refused: metrics


_PLAIN = ToolResilience()


async def run_tool(
    spec: ToolSpec[Any],
    args: BaseModel,
    env: ToolEnv,
    *,
    timeout_s: float,
    observe: Callable[[str, bool, float], None] | None = None,
    resilience: ToolResilience | None = None,
) -> ToolResult:
    """Run the call within `min(timeout_s, spec.timeout_s)` per attempt and `timeout_s` in all; never
    raises (cancellation excepted). `observe` is told (tool, ok, seconds) once per call, as the agent saw
    it: a cache hit is an ok call (the cache counter tells hits apart), a breaker's refusal a failed one."""
    r = resilience or _PLAIN
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    key = cache_key(spec, args, env) if r.cache is not None else None
    if r.cache is not None and key is not None:
        hit = await _lookup(r, r.cache, spec.name, key)
        if hit is not None:
            return _finished(spec.name, hit, started, observe, cached=True)
    if r.breakers is not None and (refusal := r.breakers.admit(spec.name)) is not None:
        if r.on_refusal is not None:
            r.on_refusal(spec.name)
        return _finished(spec.name, ToolResult.failure(refusal.message), started, observe, refused=True)
    try:
        result, transient, attempts = await _attempts(spec, args, env, deadline, r)
    except BaseException:  # cancelled: the trial slot, if this call held it, goes to the next call
        if r.breakers is not None:
            r.breakers.release(spec.name)
        raise
    if r.breakers is not None:
        if transient is not None:
            r.breakers.failed(spec.name, transient)
        else:
            r.breakers.succeeded(spec.name)
    if r.cache is not None and key is not None and result.ok:  # a failure is never cached
        await _store(r.cache, spec, key, result)
    return _finished(spec.name, result, started, observe, attempts=attempts)


def _finished(
    tool: str,
    result: ToolResult,
    started: float,
    observe: Callable[[str, bool, float], None] | None,
    **how: Any,
) -> ToolResult:
    seconds = time.perf_counter() - started
    logger.info("tool.finished", extra={"tool": tool, "ok": result.ok, "ms": round(seconds * 1000, 1), **how})
    if observe is not None:
        observe(tool, result.ok, seconds)
    return result


async def _lookup(r: ToolResilience, cache: BaseCache[Any], tool: str, key: FullKey) -> ToolResult | None:
    try:
        found = await cache.aget([key])
    except Exception:  # a cache is an optimisation: whatever it does, the call goes on without it
        logger.exception("tool.cache_failed", extra={"tool": tool, "operation": "get"})
        found = {}
    hit = restored(found[key]) if key in found else None
    outcome: CacheOutcome = "hit" if hit is not None else "skipped" if degraded(cache) else "miss"
    if r.on_cache is not None:
        r.on_cache(tool, outcome)
    return hit


async def _store(cache: BaseCache[Any], spec: ToolSpec[Any], key: FullKey, result: ToolResult) -> None:
    try:
        await cache.aset({key: (stored(result), cache_ttl(spec))})
    except Exception:
        logger.exception("tool.cache_failed", extra={"tool": spec.name, "operation": "set"})


async def _attempts(
    spec: ToolSpec[Any], args: BaseModel, env: ToolEnv, deadline: float, r: ToolResilience
) -> tuple[ToolResult, str | None, int]:
    """The call, tried again while the failure is transient, the tool idempotent and attempts and time
    remain. Returns the last result, its transient reason (None: an answer) and the attempts made. The
    same `env`, so the same idempotency key, is passed to every attempt."""
    policy = r.retry
    most = policy.max_attempts if policy is not None and spec.idempotent else 1
    attempt = 0
    while True:
        attempt += 1
        limit = max(min(spec.timeout_s, deadline - time.monotonic()), 0.0)
        result, transient, exc = await _attempt(spec, args, env, limit)
        if transient is None or policy is None or attempt >= most:
            break
        if exc is not None and not _retry_on(policy.retry_on, exc):
            break
        delay = _backoff(policy, attempt)
        if deadline - time.monotonic() - delay < MIN_ATTEMPT_S:
            break
        logger.info(
            "tool.retrying",
            extra={"tool": spec.name, "attempt": attempt, "reason": transient, "delay_ms": round(delay * 1000, 1)},
        )
        if r.on_retry is not None:
            r.on_retry(spec.name)
        await asyncio.sleep(delay)
    if attempt > 1 and not result.ok:
        result = result.model_copy(update={"error": f"{result.error} ({attempt} attempts)"})
    return result, transient, attempt


async def _attempt(
    spec: ToolSpec[Any], args: BaseModel, env: ToolEnv, limit: float
) -> tuple[ToolResult, str | None, Exception | None]:
    """One try: (result, why it failed transiently or None, the exception if one was raised)."""
    try:
        async with asyncio.timeout(limit):
            result = await spec.fn(args, env)
    except TimeoutError as exc:
        reason = f"timed out after {_s(limit)} s"
        return ToolResult.failure(f"{spec.name} {reason}; try simpler arguments or later"), reason, exc
    except Exception as exc:  # a tool bug must not crash the run: the model reads the error instead
        logger.exception("tool.crashed", extra={"tool": spec.name})
        reason = f"{type(exc).__name__}: {exc}"
        return ToolResult.failure(f"{spec.name} failed: {reason}; try again later or another way"), reason, exc
    if not isinstance(result, ToolResult):
        reason = f"returned {type(result).__name__}, not a ToolResult"
        return ToolResult.failure(f"{spec.name} {reason}"), reason, None
    if not result.ok and result.retryable:
        return result, result.error or "a transient failure", None
    return result, None, None


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    interval = min(policy.max_interval, policy.initial_interval * policy.backoff_factor ** (attempt - 1))
    return interval * random.uniform(0.5, 1.0) if policy.jitter else interval


def _retry_on(
    retry_on: type[Exception] | Sequence[type[Exception]] | Callable[[Exception], bool], exc: Exception
) -> bool:
    """`RetryPolicy.retry_on` read as LangGraph reads it: a class, a sequence of classes, or a predicate."""
    if isinstance(retry_on, type):
        return isinstance(exc, retry_on)
    if isinstance(retry_on, Sequence):
        return isinstance(exc, tuple(retry_on))
    return bool(retry_on(exc))


def _s(seconds: float) -> str:
    return f"{round(seconds, 2):g}"
