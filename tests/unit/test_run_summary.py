"""A run's summary: model calls priced from llm/usage.py, tool calls in order, totals that add up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from handrail.metrics import Metrics
from handrail.runs.summary import MAX_STEPS, RunRecorder


async def model_call(recorder: RunRecorder, node: str, model: str, tokens_in: int, tokens_out: int) -> None:
    call = uuid.uuid4()
    await recorder.on_chat_model_start({}, [[]], run_id=call, metadata={"langgraph_node": node})
    message = AIMessage(
        "ok",
        response_metadata={"model_name": model},
        usage_metadata={"input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    )
    await recorder.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=call)


async def test_priced_calls_and_tools_add_up_in_the_summary():
    metrics = Metrics()
    recorder = RunRecorder(metrics)
    await model_call(recorder, "plan", "gpt-4.1-mini-2025-04-14", 1000, 500)  # $0.40 / $1.60 per million
    recorder.tool_finished("calculator", True, 0.002)
    recorder.tool_finished("send_email", False, 0.5)
    await model_call(recorder, "synthesize", "some-unpriced-model", 10, 5)
    run = {"thread_id": uuid.uuid4(), "user_id": "u", "created_at": datetime.now(UTC) - timedelta(seconds=2)}

    summary = recorder.summary(run, "success")
    assert summary["cost_usd"] == round(1000 * 0.40 / 1e6 + 500 * 1.60 / 1e6, 8)
    assert (summary["tokens_in"], summary["tokens_out"]) == (1010, 505)
    assert summary["models"] == ["gpt-4.1-mini-2025-04-14", "some-unpriced-model"]
    assert [(s["node"], s["kind"], s["name"], s["ok"]) for s in summary["steps"]] == [
        ("plan", "llm", "gpt-4.1-mini-2025-04-14", True),
        ("execute", "tool", "calculator", True),
        ("execute", "tool", "send_email", False),
        ("synthesize", "llm", "some-unpriced-model", True),
    ]
    assert summary["duration_ms"]["wall"] >= 2000 > summary["duration_ms"]["agent"]
    cost = metrics.registry.get_sample_value("handrail_cost_usd_total", {"model": "gpt-4.1-mini-2025-04-14"})
    assert cost == summary["cost_usd"]


async def test_a_looping_run_keeps_a_bounded_summary():
    recorder = RunRecorder(Metrics())
    for _ in range(MAX_STEPS + 7):
        recorder.tool_finished("search_docs", True, 0.001)
    summary = recorder.summary({"thread_id": uuid.uuid4()}, "error")
    assert len(summary["steps"]) == MAX_STEPS and summary["steps_dropped"] == 7


async def test_operator_prices_override_the_built_in_table_everywhere_costs_are_counted(monkeypatch):
    from handrail.settings import Settings
    from handrail.wiring import build_deps

    monkeypatch.setenv("MODEL_PRICES", '{"gpt-4.1-mini": [1.0, 2.0], "in-house-model": [0.5, 0.5]}')
    settings = Settings(database_url="postgresql://unused/db")
    deps = build_deps(settings, None)  # type: ignore[arg-type]
    assert deps.prices["gpt-4.1-mini"] == (1.0, 2.0) and deps.prices["gpt-4.1"] == (2.00, 8.00)

    recorder = RunRecorder(Metrics(), deps.prices)
    await model_call(recorder, "plan", "gpt-4.1-mini", 1_000_000, 1_000_000)
    await model_call(recorder, "plan", "in-house-model-v2", 2_000_000, 0)
    assert recorder.summary({"thread_id": uuid.uuid4()}, "success")["cost_usd"] == 3.0 + 1.0
