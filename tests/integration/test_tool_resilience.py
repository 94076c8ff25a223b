"""Tool calls under failure: retries only for idempotent tools and within the call's time, a breaker per
tool whose refusal the model reads, and a cache of read tools' results in the real Redis that an outage
only makes visible, never fatal."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from handrail.cache import AsyncRedisCache
from handrail.metrics import Metrics
from handrail.settings import Settings
from handrail.wiring import tool_resilience_from_settings
from llm.scripted import ScriptedChatModel, plan_message
from tests.support.agents import make_deps, make_graph, user
from tests.support.http import free_port
from tests.support.waiting import eventually
from tools.base import Risk, ToolEnv, ToolResult, ToolSpec
from tools.breaker import ToolBreakers
from tools.registry import Registry, builtin_registry
from tools.runner import ToolResilience, run_tool

# Fault injection, each test bounded to under a minute (the bound).
pytestmark = pytest.mark.timeout(60)

FAST_RETRY = RetryPolicy(initial_interval=0.01, max_interval=0.05, max_attempts=3, retry_on=Exception)

Outcome = ToolResult | Exception | float | Callable[[], Awaitable[ToolResult]]


class Query(BaseModel):
    q: str = Field("x", max_length=50)


@dataclass
class FakeTool:
    """A tool whose every call is scripted (a result, an exception to raise, seconds to hang, or a coroutine
    to await; the last outcome repeats) and recorded: the idempotency key and the user of each call."""

    name: str
    outcomes: list[Outcome]
    keys: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.keys)

    def spec(self, *, risk: Risk = "read", idempotent: bool = True, timeout_s: float = 5.0, **cache: Any) -> ToolSpec:
        async def fn(args: Query, env: ToolEnv) -> ToolResult:
            self.keys.append(env.idempotency_key)
            self.users.append(env.user_id)
            outcome = self.outcomes[min(len(self.keys), len(self.outcomes)) - 1]
            if isinstance(outcome, Exception):
                raise outcome
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
                return ToolResult.success("too late")
            if callable(outcome):
                return await outcome()
            return outcome

        return ToolSpec(
            name=self.name,
            description=f"Test tool {self.name}.",
            args_schema=Query,
            fn=fn,
            risk=risk,
            idempotent=idempotent,
            timeout_s=timeout_s,
            **cache,
        )


def env(user_id: str = "alice", key: str = "thread-1:call-1") -> ToolEnv:
    return ToolEnv(idempotency_key=key, user_id=user_id, thread_id="thread-1")


def count(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(f"{name}_total", labels) or 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- retries ----------------------------------------------------------------------------------------------


async def test_an_idempotent_tool_that_fails_transiently_succeeds_on_retry_with_the_same_idempotency_key():
    tool = FakeTool("lookup", [ConnectionError("connection reset by peer"), ToolResult.success({"n": 1})])
    metrics = Metrics()
    # The service's wiring (metrics included), with a 10 ms backoff.
    retried = dataclasses.replace(tool_resilience_from_settings(Settings(), metrics=metrics), retry=FAST_RETRY)

    result = await run_tool(tool.spec(), Query(), env(key="t9:step-2"), timeout_s=5, resilience=retried)

    assert result == ToolResult.success({"n": 1})
    assert tool.keys == ["t9:step-2", "t9:step-2"], "a retry is the same call: a tool with effects can dedupe it"
    assert count(metrics, "handrail_tool_retries", tool="lookup") == 1


async def test_a_result_marked_retryable_is_retried_and_a_plain_failure_is_an_answer():
    busy = FakeTool("busy", [ToolResult.failure("index is rebuilding", retryable=True), ToolResult.success("ok")])
    absent = FakeTool("absent", [ToolResult.failure("no ticket 42; check the number with the user")])
    resilience = ToolResilience(retry=FAST_RETRY)

    assert (await run_tool(busy.spec(), Query(), env(), timeout_s=5, resilience=resilience)).ok
    answer = await run_tool(absent.spec(), Query(), env(), timeout_s=5, resilience=resilience)

    assert busy.calls == 2
    assert absent.calls == 1, "a business answer would be the same the second time"
    assert answer.error == "no ticket 42; check the number with the user"


async def test_a_non_idempotent_tool_that_fails_is_called_exactly_once():
    crashing = FakeTool("charge_card", [RuntimeError("gateway 502")])
    transient = FakeTool("post_message", [ToolResult.failure("rate limited", retryable=True)])
    resilience = ToolResilience(retry=FAST_RETRY)

    crashed = await run_tool(crashing.spec(idempotent=False), Query(), env(), timeout_s=5, resilience=resilience)
    await run_tool(transient.spec(idempotent=False), Query(), env(), timeout_s=5, resilience=resilience)

    assert (crashing.calls, transient.calls) == (1, 1)
    assert crashed.error == "charge_card failed: RuntimeError: gateway 502; try again later or another way"


async def test_a_timed_out_idempotent_tool_is_retried_but_never_past_the_calls_time_budget():
    hanging = FakeTool("slow_search", [5.0])
    resilience = ToolResilience(retry=FAST_RETRY)

    started = time.monotonic()
    result = await run_tool(hanging.spec(timeout_s=0.2), Query(), env(), timeout_s=1.0, resilience=resilience)
    assert time.monotonic() - started < 1.0
    assert hanging.calls == 3, "three attempts of 0.2 s fit in the 1 s budget"
    assert result.error == "slow_search timed out after 0.2 s; try simpler arguments or later (3 attempts)"

    squeezed = FakeTool("slow_search", [5.0])
    started = time.monotonic()
    result = await run_tool(squeezed.spec(timeout_s=0.2), Query(), env(), timeout_s=0.3, resilience=resilience)
    assert time.monotonic() - started < 0.3 + 0.05, "the second attempt only gets what is left of 0.3 s"
    assert squeezed.calls == 2 and result.error is not None and result.error.endswith("(2 attempts)")

    whole = FakeTool("slow_search", [5.0])
    await run_tool(whole.spec(timeout_s=0.2), Query(), env(), timeout_s=0.2, resilience=resilience)
    assert whole.calls == 1, "a first attempt that used the whole budget leaves no room for a second"


# --- breakers ---------------------------------------------------------------------------------------------


async def test_the_breaker_opens_after_n_failures_and_the_model_reads_why_while_the_tool_is_not_called(
    pool, thread_config
):
    flaky = FakeTool("flaky_search", [ConnectionError("upstream reset")])
    spec, clock, changes = flaky.spec(), Clock(), []
    breakers = ToolBreakers(2, 30, clock=clock, on_change=lambda tool, state: changes.append((tool, state)))
    resilience = ToolResilience(retry=FAST_RETRY, breakers=breakers)
    for _ in range(2):
        await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    assert changes == [("flaky_search", "open")] and breakers.open_tool_breakers() == ["flaky_search"]
    made = flaky.calls  # 2 calls of 3 attempts each

    planner = ScriptedChatModel(
        script=[
            plan_message({"tool": "flaky_search", "args": {"q": "refunds"}, "purpose": "look it up"}),
            plan_message({"tool": "calculator", "args": {"expression": "1+1"}, "purpose": "something else"}),
        ]
    )
    deps = make_deps(pool, planner=planner, registry=Registry([*builtin_registry().specs(), spec]), max_replans=1)
    result = await make_graph(pool, dataclasses.replace(deps, tool_resilience=resilience)).ainvoke(
        user("look up refunds"), thread_config
    )

    assert flaky.calls == made, "an open breaker makes no call"
    refused = result["observations"][0]
    assert refused["status"] == "failed" and refused["error"].startswith(
        "flaky_search is failing (2 failures in a row; last: ConnectionError: upstream reset); it was not called"
    )
    assert "flaky_search is failing" in planner.calls[1][0][0].content, "the re-plan reads why"
    assert [o["tool"] for o in result["observations"]] == ["flaky_search", "calculator"]

    clock.now += 31  # past the reset time: the next call is the trial, and it succeeds
    flaky.outcomes = [ToolResult.success({"passages": []})]
    assert (await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)).ok
    assert flaky.calls == made + 1
    assert [state for _, state in changes] == ["open", "half_open", "closed"]
    assert breakers.open_tool_breakers() == []


async def test_a_failed_trial_reopens_the_breaker_and_other_calls_are_refused_while_it_runs():
    release = asyncio.Event()

    async def failing_trial() -> ToolResult:
        await release.wait()
        raise ConnectionError("still down")

    tool = FakeTool("orders", [ConnectionError("down")])
    spec, clock, changes = tool.spec(), Clock(), []
    breakers = ToolBreakers(1, 10, clock=clock, on_change=lambda _, state: changes.append(state))
    resilience = ToolResilience(breakers=breakers)  # no retries: one attempt per call
    await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    clock.now += 10
    tool.outcomes = [failing_trial]

    trial = asyncio.create_task(run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience))

    async def trial_started() -> bool:
        return tool.calls == 2

    await eventually(trial_started, within_s=5)
    other = await run_tool(spec, Query(), env("bob"), timeout_s=5, resilience=resilience)
    assert other.error is not None and "a trial call is running now" in other.error
    release.set()
    await trial

    assert tool.calls == 2 and changes == ["open", "half_open", "open"]
    assert breakers.open_tool_breakers() == ["orders"]
    refused = await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    assert refused.error is not None and "tried again in about 10 s" in refused.error


async def test_a_business_failure_does_not_count_toward_the_breaker():
    tool = FakeTool("tickets", [RuntimeError("db down"), ToolResult.failure("no ticket 42"), RuntimeError("db down")])
    breakers = ToolBreakers(2, 30)
    resilience = ToolResilience(breakers=breakers)
    for _ in range(3):
        await run_tool(tool.spec(), Query(), env(), timeout_s=5, resilience=resilience)
    assert breakers.state("tickets") == "closed", "the answer in between shows the tool works"


# --- cache ------------------------------------------------------------------------------------------------


@pytest.fixture
def cache(redis_client: Any, prefix: str) -> AsyncRedisCache[Any]:
    return AsyncRedisCache(redis_client, prefix=prefix)


def cached(cache: AsyncRedisCache[Any], metrics: Metrics | None = None) -> ToolResilience:
    return tool_resilience_from_settings(Settings(), cache=cache, metrics=metrics or Metrics())


async def test_a_second_identical_call_is_served_from_the_cache(cache, redis_client, prefix):
    tool = FakeTool("weather", [ToolResult.success({"temp_c": 21})])
    metrics = Metrics()
    resilience, spec = cached(cache, metrics), tool.spec(cache_ttl_s=60)

    seen: list[tuple[str, bool]] = []
    for _ in range(2):
        result = await run_tool(
            spec,
            Query(q="Paris"),
            env(),
            timeout_s=5,
            resilience=resilience,
            observe=lambda t, ok, _: seen.append((t, ok)),
        )
        assert result == ToolResult.success({"temp_c": 21})

    assert tool.calls == 1
    assert seen == [("weather", True)] * 2, "a hit still answers the call: run summaries and call counts show it"
    assert count(metrics, "handrail_tool_cache", tool="weather", result="miss") == 1
    assert count(metrics, "handrail_tool_cache", tool="weather", result="hit") == 1
    (key,) = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
    assert key.startswith(f"{prefix}tool:weather:".encode()) and 0 < await redis_client.ttl(key) <= 60


async def test_a_per_user_result_is_never_served_to_another_user(cache):
    mine = FakeTool("my_orders", [ToolResult.success(["order 1"])])
    shared = FakeTool("catalog", [ToolResult.success(["boots"])])
    resilience = cached(cache)
    per_user, everyone = mine.spec(cache_ttl_s=60, cache_per_user=True), shared.spec(cache_ttl_s=60)

    for who in ("alice", "alice", "bob"):
        await run_tool(per_user, Query(), env(who), timeout_s=5, resilience=resilience)
        await run_tool(everyone, Query(), env(who), timeout_s=5, resilience=resilience)

    assert mine.users == ["alice", "bob"], "alice's second call was a hit; bob's first ran for bob"
    assert shared.users == ["alice"], "a result that is the same for everyone is shared"


async def test_a_cached_result_expires_after_its_ttl(cache, redis_client, prefix):
    tool = FakeTool("rates", [ToolResult.success({"eur_usd": 1.08})])
    resilience, spec = cached(cache), tool.spec(cache_ttl_s=1)
    await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    assert tool.calls == 1

    async def expired() -> bool:
        return not [k async for k in redis_client.scan_iter(match=f"{prefix}*")]

    await eventually(expired, within_s=5)
    await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    assert tool.calls == 2


async def test_tools_with_effects_are_never_cached(cache, redis_client, prefix):
    for risk, idempotent in (("write", True), ("dangerous", True), ("read", False)):
        with pytest.raises(ValueError, match="cache_ttl_s needs risk='read', idempotent=True"):
            FakeTool("t", []).spec(risk=risk, idempotent=idempotent, cache_ttl_s=60)

    ticket = FakeTool("open_ticket", [ToolResult.success({"ticket_id": 7})])
    metrics = Metrics()
    resilience = cached(cache, metrics)
    for _ in range(2):
        await run_tool(ticket.spec(risk="write"), Query(), env(), timeout_s=5, resilience=resilience)
    assert ticket.calls == 2
    assert [k async for k in redis_client.scan_iter(match=f"{prefix}*")] == []
    assert count(metrics, "handrail_tool_cache", tool="open_ticket", result="miss") == 0, "not even looked up"


async def test_failed_results_are_never_cached(cache):
    tool = FakeTool(
        "search",
        [ToolResult.failure("no results for 'zzz'; try broader terms"), RuntimeError("boom"), ToolResult.success(1)],
    )
    resilience = dataclasses.replace(cached(cache), retry=None)  # one attempt per call, to count them
    spec = tool.spec(cache_ttl_s=60)
    results = [await run_tool(spec, Query(q="zzz"), env(), timeout_s=5, resilience=resilience) for _ in range(4)]

    assert [r.ok for r in results] == [False, False, True, True]
    assert tool.calls == 3, "only the success was served again"


async def test_with_redis_unreachable_calls_run_uncached_and_the_skip_is_visible(caplog):
    caplog.set_level(logging.WARNING, logger="handrail.ratelimit")
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    cache: AsyncRedisCache[Any] = AsyncRedisCache(dead, prefix="handrail-test-dead:")
    tool = FakeTool("weather", [ToolResult.success({"temp_c": 21})])
    metrics = Metrics()
    resilience, spec = cached(cache, metrics), tool.spec(cache_ttl_s=60)
    try:
        results = [await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience) for _ in range(3)]
    finally:
        await dead.aclose()

    assert all(r == ToolResult.success({"temp_c": 21}) for r in results) and tool.calls == 3
    assert count(metrics, "handrail_tool_cache", tool="weather", result="skipped") == 3
    assert count(metrics, "handrail_tool_cache", tool="weather", result="miss") == 0
    degraded = cache.cache_degraded()
    assert degraded is not None and "Redis is unavailable (ConnectionError)" in degraded
    outages = [r for r in caplog.records if r.getMessage() == "redis.unavailable"]
    assert [getattr(r, "component", None) for r in outages] == ["tool_cache"], "logged once per outage"


async def test_the_cache_is_used_again_once_redis_answers(redis_client, prefix, caplog):
    caplog.set_level(logging.INFO, logger="handrail.ratelimit")
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    cache: AsyncRedisCache[Any] = AsyncRedisCache(dead, prefix=prefix, retry_s=0.3)
    tool = FakeTool("weather", [ToolResult.success({"temp_c": 21})])
    resilience, spec = cached(cache), tool.spec(cache_ttl_s=60)
    await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)
    await dead.aclose()
    assert cache.cache_degraded() is not None, "skipped while the pause after the failure lasts"

    cache.redis = redis_client  # Redis is back
    await asyncio.sleep(0.35)
    assert cache.cache_degraded() is None, "after the pause the next lookup tries Redis: not reported degraded"
    for _ in range(2):
        await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience)

    assert cache.cache_degraded() is None
    assert tool.calls == 2, "the call after the outage filled the cache, the next one hit it"
    assert "redis.recovered" in [r.getMessage() for r in caplog.records]


async def test_a_whole_run_reuses_another_threads_search_from_the_cache(pool, cache):
    search = {"tool": "search_docs", "args": {"query": "refund window for sale items"}, "purpose": "policy"}
    metrics = Metrics()
    resilience = cached(cache, metrics)
    answers = []
    for thread in ("a", "b"):
        planner = ScriptedChatModel(script=[plan_message(search)])
        deps = dataclasses.replace(make_deps(pool, planner=planner), tool_resilience=resilience)
        config = {"configurable": {"thread_id": f"t-cache-{thread}-{time.monotonic_ns()}"}}
        answers.append(await make_graph(pool, deps).ainvoke(user("what is the refund window?"), config))

    first, second = (a["observations"][0] for a in answers)
    assert first["ok"] and first["data"] == second["data"] and first["data"]["passages"]
    assert count(metrics, "handrail_tool_cache", tool="search_docs", result="miss") == 1
    assert count(metrics, "handrail_tool_cache", tool="search_docs", result="hit") == 1


async def test_a_result_the_cache_cannot_store_is_still_returned(cache, redis_client, prefix):
    class Opaque:
        pass

    value = Opaque()
    tool = FakeTool("handle", [ToolResult.success(value)])
    resilience, spec = cached(cache), tool.spec(cache_ttl_s=60)
    results = [await run_tool(spec, Query(), env(), timeout_s=5, resilience=resilience) for _ in range(2)]

    assert [r.data for r in results] == [value, value] and tool.calls == 2
    assert [k async for k in redis_client.scan_iter(match=f"{prefix}*")] == []
