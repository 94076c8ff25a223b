"""A real provider client (ChatOpenAI via `make_chat_model`) against a fake OpenAI endpoint, on real Postgres.

These pin how the agent behaves when the model is a network service: the wire format it sends and
parses, token accounting from `usage`, and what happens on rate limits, server errors and timeouts.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel

from llm.factory import make_chat_model
from tests.support.agents import make_deps, make_graph, user
from tests.support.fake_openai import FakeOpenAI

QUESTION = "what is 6*7?"
CALC_STEP = {"tool": "calculator", "args": {"expression": "6*7"}, "purpose": "compute the product"}
ANSWER = "6 times 7 is 42 (fake model)."


def openai_model(fake: FakeOpenAI, *, max_retries: int = 0, timeout_s: float = 5) -> BaseChatModel:
    return make_chat_model(
        "openai:gpt-4.1-mini", base_url=fake.base_url, api_key="sk-test", timeout_s=timeout_s, max_retries=max_retries
    )


def graph_for(pool: Any, model: BaseChatModel, *, synthesizer: BaseChatModel | None = None) -> Any:
    # The executor is only called for args with a {{step:N}} reference; giving it the fake too means
    # an unexpected executor call would show up as an extra request (and a loud 500 from the fake).
    return make_graph(pool, make_deps(pool, planner=model, executor=model, synthesizer=synthesizer or model))


def calculator_result(result: dict[str, Any]) -> Any:
    (obs,) = [o for o in result["observations"] if o["tool"] == "calculator"]
    assert obs["status"] == "done" and obs["ok"], obs
    return obs["data"]["result"]


async def test_openai_model_plans_and_answers_a_full_run_on_postgres(pool, thread_config):
    with FakeOpenAI() as fake:
        fake.enqueue_tool_call("Plan", {"steps": [CALC_STEP]})
        fake.enqueue_text(ANSWER)
        graph = graph_for(pool, openai_model(fake))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert result["final_answer"] == ANSWER
    assert result["messages"][-1].content == ANSWER
    assert calculator_result(result) == 42
    assert len(fake.requests) == 2, "one planner call and one synthesizer call; the executor is not needed"
    planner_request = fake.requests[0]
    assert planner_request["model"] == "gpt-4.1-mini"
    assert planner_request.tool_names == ["Plan"]
    assert planner_request["tool_choice"]["function"]["name"] == "Plan"
    assert planner_request.headers["authorization"] == "Bearer sk-test"
    assert "tools" not in fake.requests[1], "the synthesizer is offered no tools"
    state = await graph.aget_state(thread_config)
    assert state.next == ()
    assert state.values["tokens"] == fake.total_tokens > 0
    assert state.values["cost_usd"] > 0, "gpt-4.1-mini is priced, and the fake echoes the model name"


async def test_a_rate_limited_call_is_retried_and_the_run_completes(pool, thread_config):
    with FakeOpenAI() as fake:
        fake.enqueue_error(429)  # carries Retry-After: 0, so the client uses its own short backoff
        fake.enqueue_tool_call("Plan", {"steps": [CALC_STEP]})
        fake.enqueue_text(ANSWER)
        graph = graph_for(pool, openai_model(fake, max_retries=1))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert result["final_answer"] == ANSWER
    assert calculator_result(result) == 42
    assert len(fake.requests) == 3
    assert [r.headers.get("x-stainless-retry-count") for r in fake.requests[:2]] == ["0", "1"]
    assert fake.requests[0] == fake.requests[1], "the retry resends the same planner request"
    state = await graph.aget_state(thread_config)
    assert state.values["tokens"] == fake.total_tokens, "the failed attempt used no tokens"


async def test_a_server_error_on_the_planner_call_ends_the_turn_gracefully_without_retries(pool, thread_config):
    # A bare chat model is a chain of one with no retries and no fallback (tests/integration/
    # test_model_resilience.py covers those): its failure ends the turn through synthesize, saying why.
    with FakeOpenAI() as fake:
        fake.enqueue_error(500)
        fake.enqueue_text("I could not plan this: the planner failed.")
        graph = graph_for(pool, openai_model(fake, max_retries=0))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert len(fake.requests) == 2, "max_retries=0 means a single planner attempt; then the answer"
    assert "tools" not in fake.requests[1]
    state = await graph.aget_state(thread_config)
    assert state.next == ()
    assert state.values["observations"] == []
    assert state.values["stop_reason"] == (
        "the planner model (openai-chat:gpt-4.1-mini) failed: 500 fake: scripted error 500; nothing was done"
    )
    assert result["final_answer"] == "I could not plan this: the planner failed."


@pytest.mark.timeout(30)
async def test_a_hanging_provider_times_out_instead_of_blocking_the_run(pool, thread_config):
    with FakeOpenAI() as fake:
        fake.enqueue_hang(20)
        fake.enqueue_text("The planner timed out; nothing was done.")
        graph = graph_for(pool, openai_model(fake, max_retries=0, timeout_s=0.5))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert len(fake.requests) == 2, "a timeout with max_retries=0 is not retried"
    state = await graph.aget_state(thread_config)
    assert state.values["stop_reason"].endswith("failed: timed out; nothing was done")
    assert result["final_answer"] == "The planner timed out; nothing was done."


async def test_a_failing_answer_model_still_ends_with_a_rule_written_answer(pool, thread_config):
    with FakeOpenAI() as fake:
        fake.enqueue_tool_call("Plan", {"steps": [CALC_STEP]})
        fake.enqueue_error(500)  # the synthesizer's call
        graph = graph_for(pool, openai_model(fake, max_retries=0))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert len(fake.requests) == 2
    assert calculator_result(result) == 42
    answer = result["final_answer"]
    assert "6*7 = 42" in answer
    assert "The answer model failed" in answer
    assert result["messages"][-1].content == answer
    state = await graph.aget_state(thread_config)
    assert state.next == ()
    assert state.values["tokens"] == fake.total_tokens, "only the planner's usage is counted"


async def test_an_unscripted_model_call_fails_loudly(pool, thread_config):
    with FakeOpenAI() as fake:
        graph = graph_for(pool, openai_model(fake, max_retries=0))

        result = await graph.ainvoke(user(QUESTION), thread_config)

    assert len(fake.requests) == 2, "the planner's call, then the answer model's"
    assert [r.status for r in fake.responses] == [500, 500]
    state = await graph.aget_state(thread_config)
    assert "500 fake: no scripted response" in state.values["stop_reason"]
    assert "The answer model failed" in result["final_answer"]
