"""Plan validation, hard limits and loop detection end runs gracefully through synthesize."""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage
from pydantic import BaseModel

from llm.scripted import ScriptedChatModel, plan_message
from tests.support.agents import make_deps, make_graph, user
from tools.base import ToolEnv, ToolResult, tool
from tools.registry import Registry, builtin_registry

CALC = {"tool": "calculator", "args": {"expression": "1+1"}, "purpose": "add"}
TIME = {"tool": "get_time", "args": {"timezone": "UTC"}, "purpose": "time"}


class NoArgs(BaseModel):
    pass


@tool(args=NoArgs, timeout_s=0.2)
async def slow_tool(args: NoArgs, env: ToolEnv) -> ToolResult:
    """Takes far longer than its timeout."""
    await asyncio.sleep(5)
    return ToolResult.success("never")


@tool(args=NoArgs)
async def broken_tool(args: NoArgs, env: ToolEnv) -> ToolResult:
    """Always fails."""
    raise RuntimeError("backend exploded")


def registry_with(*extra) -> Registry:
    return Registry([*builtin_registry().specs(), *extra])


async def test_a_plan_naming_an_unknown_tool_is_fed_back_once_and_never_executed(pool, thread_config):
    planner = ScriptedChatModel(
        script=[plan_message({"tool": "drop_database", "args": {}, "purpose": "oops"}), plan_message(CALC)]
    )
    graph = make_graph(pool, make_deps(pool, planner=planner))
    result = await graph.ainvoke(user("add one and one"), thread_config)

    assert [o["tool"] for o in result["observations"]] == ["calculator"]
    second_prompt = planner.calls[1][0][0].content
    assert "unknown tool 'drop_database'" in second_prompt


async def test_a_plan_refused_twice_ends_with_no_tool_run(pool, thread_config):
    bad = {"tool": "calculator", "args": {"expression": ""}, "purpose": "empty"}
    planner = ScriptedChatModel(script=[plan_message(bad), plan_message(bad)])
    graph = make_graph(pool, make_deps(pool, planner=planner))
    result = await graph.ainvoke(user("compute nothing"), thread_config)

    assert result["observations"] == []
    assert "no valid plan could be made" in result["stop_reason"]
    assert "no valid plan" in result["final_answer"]


async def test_step_limit_ends_the_run_with_the_reason(pool, thread_config):
    planner = ScriptedChatModel(script=[plan_message(CALC, TIME)])
    graph = make_graph(pool, make_deps(pool, planner=planner, max_steps=1))
    result = await graph.ainvoke(user("two things"), thread_config)

    assert [o["tool"] for o in result["observations"]] == ["calculator"]
    assert result["stop_reason"] == "the step limit of 1 was reached"
    assert "step limit of 1" in result["final_answer"] and "1+1 = 2" in result["final_answer"]


async def test_run_time_limit_ends_the_run_gracefully(pool, thread_config):
    planner = ScriptedChatModel(script=[plan_message(CALC, TIME)])
    # One step at a time: the time limit is checked between steps, and two independent ones run at once.
    graph = make_graph(pool, make_deps(pool, planner=planner, run_timeout_s=1e-9, max_parallel_steps=1))
    result = await graph.ainvoke(user("two things"), thread_config)

    assert len(result["observations"]) == 1
    assert "run time limit" in result["stop_reason"]
    assert result["final_answer"]


async def test_a_tool_that_exceeds_its_timeout_fails_readably(pool, thread_config):
    planner = ScriptedChatModel(script=[plan_message({"tool": "slow_tool", "args": {}, "purpose": "wait"})])
    deps = make_deps(pool, planner=planner, registry=registry_with(slow_tool), max_replans=0)
    result = await make_graph(pool, deps).ainvoke(user("wait"), thread_config)

    (obs,) = result["observations"]
    assert not obs["ok"] and obs["error"] == "slow_tool timed out after 0.2 s; try simpler arguments or later"
    assert "re-plan limit (0)" in result["stop_reason"]


async def test_a_crashing_tool_becomes_a_readable_failed_observation(pool, thread_config):
    planner = ScriptedChatModel(script=[plan_message({"tool": "broken_tool", "args": {}, "purpose": "try"})])
    deps = make_deps(pool, planner=planner, registry=registry_with(broken_tool), max_replans=0)
    result = await make_graph(pool, deps).ainvoke(user("try it"), thread_config)

    (obs,) = result["observations"]
    assert (obs["status"], obs["error"]) == (
        "failed",
        "broken_tool failed: RuntimeError: backend exploded; try again later or another way",
    )
    assert "broken_tool failed" in result["final_answer"]


async def test_replans_after_failures_stop_at_max_replans(pool, thread_config):
    divisions = [{"tool": "calculator", "args": {"expression": f"{i}/0"}, "purpose": "divide"} for i in (1, 2, 3)]
    planner = ScriptedChatModel(script=[plan_message(d) for d in divisions])
    graph = make_graph(pool, make_deps(pool, planner=planner, max_replans=1))
    result = await graph.ainvoke(user("divide"), thread_config)

    assert len(planner.calls) == 2, "the first plan and exactly one re-plan"
    assert [o["args"]["expression"] for o in result["observations"]] == ["1/0", "2/0"]
    assert result["stop_reason"] == "calculator did not succeed and the re-plan limit (1) was reached"
    assert "Step 1 (calculator) failed" in planner.calls[1][0][0].content, "the failure is fed back"


async def test_a_repeated_identical_call_is_stopped_before_it_runs(pool, thread_config):
    planner = ScriptedChatModel(script=[plan_message(CALC, CALC, TIME)])
    graph = make_graph(pool, make_deps(pool, planner=planner))
    result = await graph.ainvoke(user("add twice"), thread_config)

    assert [o["status"] for o in result["observations"]] == ["done", "skipped"]
    assert "identical calculator call" in result["stop_reason"]


async def test_no_progress_is_detected(pool, thread_config):
    steps = [{"tool": "calculator", "args": {"expression": f"1/{0}+{i}"}, "purpose": "divide"} for i in range(4)]
    planner = ScriptedChatModel(script=[plan_message(*steps[:1]), plan_message(*steps[1:2]), plan_message(*steps[2:])])
    # One step at a time, to see the streak stop at exactly 3 (the last plan's two steps would run together).
    graph = make_graph(pool, make_deps(pool, planner=planner, max_replans=5, max_parallel_steps=1))
    result = await graph.ainvoke(user("divide by zero a lot"), thread_config)

    assert result["stop_reason"] == "no progress: the last 3 steps all failed"
    assert len(result["observations"]) == 3


async def test_the_synthesizer_sees_only_observations(pool, thread_config):
    synthesizer = ScriptedChatModel(script=[AIMessage(content="two")])
    graph = make_graph(
        pool, make_deps(pool, planner=ScriptedChatModel(script=[plan_message(CALC)]), synthesizer=synthesizer)
    )
    result = await graph.ainvoke(user("add"), thread_config)

    assert result["final_answer"] == "two"
    (messages, tools) = synthesizer.calls[0]
    assert tools == []
    assert '"expression": "1+1"' in messages[0].content and '"result": 2' in messages[0].content
