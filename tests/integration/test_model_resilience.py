"""Model calls against a flaky provider (the local fake OpenAI server), through real graph runs on Postgres
and breakers shared through the real Redis and Postgres: retries with backoff and Retry-After, fallback
chains, circuit breakers, and a graceful answer when every model is out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from graph.context import Models
from handrail.breakers import SharedStore, shared_breakers
from handrail.metrics import Metrics
from handrail.settings import Settings
from handrail.wiring import ModelMetrics, models_from_settings
from llm.breaker import Breakers, MemoryStore
from llm.resilience import ModelChain, ModelsUnavailable
from tests.support.agents import make_deps, make_graph, user
from tests.support.fake_openai import FakeOpenAI, ReceivedRequest

# Fault injection, each test bounded to under a minute (the bound).
pytestmark = pytest.mark.timeout(60)

QUESTION = "what is 6*7?"
CALC_STEP = {"tool": "calculator", "args": {"expression": "6*7"}, "purpose": "compute the product"}
ANSWER = "6 times 7 is 42 (fake model)."
PRIMARY, FALLBACK = "openai:gpt-4.1-mini", "openai:gpt-4.1"


def settings_for(fake: FakeOpenAI, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "planner_model": PRIMARY,
        "executor_model": PRIMARY,
        "synth_model": PRIMARY,
        "model_base_url": fake.base_url,
        "model_api_key": "sk-test",
        "model_timeout_s": 5.0,
        "model_retry_backoff_s": 0.05,
        **overrides,
    }
    return Settings(**values)


def answers(request: ReceivedRequest) -> Any:
    """What a healthy model answers: a plan when asked to plan, else the final answer."""
    if "Plan" in request.tool_names:
        return FakeOpenAI.tool_call("Plan", {"steps": [CALC_STEP]})
    return FakeOpenAI.text(ANSWER)


def graph_with(pool: Any, models: Models) -> Any:
    deps = make_deps(pool, planner=models.planner, executor=models.executor, synthesizer=models.synthesizer)
    return make_graph(pool, deps)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def config() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"t-{uuid.uuid4()}"}}


@pytest.mark.timeout(60)
async def test_with_30_percent_transient_errors_at_least_95_percent_of_40_runs_succeed(pool):
    with FakeOpenAI() as fake:
        fake.respond_with(answers).fail_randomly(0.3, statuses=(429, 500, 503), seed=15)
        models = models_from_settings(settings_for(fake))  # the shipped MODEL_MAX_RETRIES
        graph = graph_with(pool, models)

        succeeded = 0
        for _ in range(40):
            result = await graph.ainvoke(user(QUESTION), config())
            obs = result["observations"]
            if result["final_answer"] == ANSWER and [o["data"]["result"] for o in obs if o["ok"]] == [42]:
                succeeded += 1

    failed = sum(1 for r in fake.responses if r.status != 200)
    assert failed / len(fake.responses) == pytest.approx(0.3, abs=0.1), "the fake failed about 30% of requests"
    assert succeeded >= 38, f"{succeeded}/40 runs succeeded ({failed} of {len(fake.responses)} requests failed)"


async def test_with_the_primary_down_the_fallback_answers_and_the_user_sees_nothing_failed(pool, thread_config):
    def primary_down(request: ReceivedRequest) -> Any:
        if request["model"] == "gpt-4.1-mini":
            return FakeOpenAI.error(503, "primary overloaded")
        return answers(request)

    metrics = Metrics()
    with FakeOpenAI() as fake:
        fake.respond_with(primary_down)
        settings = settings_for(
            fake, planner_fallback_models=[FALLBACK, "offline"], synth_fallback_models=[FALLBACK], model_max_retries=1
        )
        graph = graph_with(pool, models_from_settings(settings, observer=ModelMetrics(metrics)))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert result["final_answer"] == ANSWER
    state = await graph.aget_state(thread_config)
    assert state.values["stop_reason"] is None
    assert [o["data"]["result"] for o in state.values["observations"]] == [42]
    models = [r["model"] for r in fake.requests]
    assert models == ["gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1"]
    assert sample(metrics, "handrail_model_fallbacks_total", role="planner", model=FALLBACK) == 1
    assert sample(metrics, "handrail_model_retries_total", model=PRIMARY, kind="server_error") == 2


async def test_the_breaker_opens_after_n_failures_skips_the_primary_then_half_opens_and_closes(
    pool, redis_client, prefix
):
    metrics = Metrics()
    with FakeOpenAI() as fake:
        settings = settings_for(
            fake,
            planner_fallback_models=["offline"],
            model_max_retries=0,
            breaker_failures=2,
            breaker_reset_s=1.0,
            breaker_refresh_s=0,
            redis_prefix=prefix,
        )
        board = shared_breakers(settings, pool, redis_client, models=[PRIMARY], metrics=metrics)
        planner = models_from_settings(settings, breakers=board).planner
        fake.enqueue_error(500).enqueue_error(502)

        for _ in range(2):  # the primary fails; the offline model answers each time
            reply = await planner.ainvoke(QUESTION)
            assert "primary" not in str(reply.content)
        assert board.open_breakers() == [PRIMARY]
        assert len(fake.requests) == 2

        await planner.ainvoke(QUESTION)
        assert len(fake.requests) == 2, "while open, the primary is not called at all"

        await asyncio.sleep(1.1)  # the reset time
        fake.enqueue_text("the primary is back")
        reply = await planner.ainvoke(QUESTION)
        assert reply.content == "the primary is back", "the half-open probe reached the primary"
        assert board.open_breakers() == []
        fake.enqueue_text("closed again")
        assert (await planner.ainvoke(QUESTION)).content == "closed again"

    assert len(fake.requests) == 4
    transitions = {
        state: sample(metrics, "handrail_model_breaker_transitions_total", model=PRIMARY, state=state)
        for state in ("open", "half_open", "closed")
    }
    assert transitions == {"open": 1, "half_open": 1, "closed": 1}
    assert sample(metrics, "handrail_model_breaker_open", model=PRIMARY) == 0


async def _two_replicas_share(one: Breakers, two: Breakers, model: str) -> None:
    for _ in range(2):
        assert await one.admit(model) == "closed"
        await one.record(model, ok=False, reason="503")
    assert await two.admit(model) == "open", "the other replica sees the breaker the first one opened"
    assert two.open_breakers() == [model]
    await asyncio.sleep(1.1)
    assert await two.admit(model) == "probe"
    assert await one.admit(model) == "open", "one probe across both replicas"
    await two.record(model, ok=True)
    assert await one.admit(model) == "closed", "the probe's success closed it for both"


async def test_two_replicas_share_breakers_through_redis(pool, redis_client, prefix):
    model = f"openai:shared-{uuid.uuid4().hex[:6]}"
    one, two = (
        Breakers(SharedStore(pool, redis_client, prefix), failures=2, reset_s=1.0, refresh_s=0) for _ in range(2)
    )
    await _two_replicas_share(one, two, model)
    assert await redis_client.exists(f"{prefix}model_breaker:{model}") == 0, "closed: nothing left in Redis"
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT 1 FROM model_breakers WHERE model = %s", (model,))).fetchone()
    assert row is None, "Redis was up: Postgres was not written"


async def test_with_redis_unreachable_two_replicas_share_breakers_through_postgres(pool, prefix):
    model = f"openai:pg-{uuid.uuid4().hex[:6]}"
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        one, two = (Breakers(SharedStore(pool, dead, prefix), failures=2, reset_s=1.0, refresh_s=0) for _ in range(2))
        for _ in range(2):
            await one.record(model, ok=False, reason="503")
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT * FROM model_breakers WHERE model = %s", (model,))).fetchone()
        assert row is not None and row["failures"] == 2 and row["opened_at"] is not None
        await one.record(model, ok=True)  # reset, then the shared scenario from the start
        await _two_replicas_share(one, two, model)
    finally:
        await dead.aclose()


@pytest.mark.timeout(30)
async def test_retry_after_is_honoured_between_attempts():
    with FakeOpenAI() as fake:
        fake.enqueue_error(429, headers={"Retry-After": "2"}).enqueue_text("after the wait")
        settings = settings_for(fake, model_max_retries=2, model_retry_backoff_s=0.05, model_retry_max_wait_s=10.0)
        planner = models_from_settings(settings).planner

        reply = await planner.ainvoke(QUESTION)

    assert reply.content == "after the wait"
    waited = fake.requests[1].received_at - fake.requests[0].received_at
    assert 2.0 <= waited < 3.0, f"waited {waited:.3f} s between attempts for Retry-After: 2 (cap 10 s)"


@pytest.mark.parametrize("status", [400, 401])
async def test_a_bad_request_or_a_bad_key_is_not_retried(status: int):
    with FakeOpenAI() as fake:
        fake.enqueue_error(status, f"fake: refused with {status}")
        planner = models_from_settings(settings_for(fake, model_max_retries=3)).planner

        with pytest.raises(ModelsUnavailable, match=f"failed: {status} fake: refused with {status}"):
            await planner.ainvoke(QUESTION)

    assert len(fake.requests) == 1


async def test_a_planner_that_never_calls_the_plan_tool_is_retried_then_falls_back(pool, thread_config):
    with FakeOpenAI() as fake:
        fake.enqueue_text("I will not plan").enqueue_tool_call("Plan", {"steps": "not a list"})
        fake.enqueue_tool_call("Plan", {"steps": [CALC_STEP]}).enqueue_text(ANSWER)
        graph = graph_with(pool, models_from_settings(settings_for(fake, model_max_retries=2)))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert result["final_answer"] == ANSWER
    assert [o["data"]["result"] for o in result["observations"]] == [42]
    assert len(fake.requests) == 4, "two malformed plans retried, the third used, then the answer"


@pytest.mark.timeout(60)
async def test_with_every_model_failing_the_run_ends_with_a_graceful_partial_answer(pool, thread_config):
    plans = iter([{"steps": [CALC_STEP, {"tool": "search_docs", "args": {"query": "refund of {{step:1}}"}}]}])

    def only_one_plan(request: ReceivedRequest) -> Any:
        plan = next(plans, None) if "Plan" in request.tool_names else None
        return FakeOpenAI.tool_call("Plan", plan) if plan else FakeOpenAI.error(503, "everything is down")

    with FakeOpenAI() as fake:
        fake.respond_with(only_one_plan)
        models = models_from_settings(settings_for(fake, model_max_retries=1), breakers=Breakers(MemoryStore()))
        graph = graph_with(pool, models)

        result = await graph.ainvoke(user(QUESTION), thread_config)

    state = (await graph.aget_state(thread_config)).values
    assert state["observations"][0]["data"]["result"] == 42
    failed = state["observations"][1]
    assert failed["status"] == "failed"
    assert failed["error"] == (f"the executor model ({PRIMARY}) failed: 503 everything is down; the step was not run")
    assert state["stop_reason"] == (
        f"the planner model ({PRIMARY}) failed: 503 everything is down; the remaining steps were not done"
    )
    answer = result["final_answer"]
    assert "6*7 = 42" in answer, "the partial result is in the answer"
    assert "The answer model failed" in answer


def test_a_bare_chat_model_is_a_chain_of_one():
    from llm.offline import OfflineChatModel

    models = Models(planner=OfflineChatModel(), executor=OfflineChatModel(), synthesizer=OfflineChatModel())
    assert isinstance(models.planner, ModelChain)
    assert models.planner.retry.attempts == 1 and models.planner.breakers is None
