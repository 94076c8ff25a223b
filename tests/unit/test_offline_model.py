"""The offline model's rules: what it plans, how it fills references and what it answers."""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage

from llm.offline import OfflineChatModel
from llm.offline_rules import fill_references, plan_steps, write_answer
from llm.protocol import embed
from nodes.plan import Plan

TOOLS = {"search_docs", "calculator", "get_time", "create_ticket", "send_email"}


def test_email_summary_plans_search_then_send_with_a_reference():
    steps = plan_steps("email alice@example.com a summary of the refund policy", TOOLS, [], None)
    assert [s["tool"] for s in steps] == ["search_docs", "send_email"]
    assert steps[0]["args"] == {"query": "refund policy"}
    assert steps[1]["args"] == {"to": "alice@example.com", "subject": "Summary: refund policy", "body": "{{step:1}}"}


def test_only_catalogue_tools_are_planned():
    assert plan_steps("email alice@example.com a summary of the refund policy", {"search_docs"}, [], None) == [
        {
            "tool": "search_docs",
            "args": {"query": "refund policy"},
            "purpose": "find what our documents say about refund policy",
        }
    ]


def test_explicit_calls_pass_through_until_the_validator_refuses_them():
    request = 'call drop_database with {"really": true} then call calculator with {"expression": "2+2"}'
    assert [s["tool"] for s in plan_steps(request, TOOLS, [], None)] == ["drop_database", "calculator"]
    assert [s["tool"] for s in plan_steps(request, TOOLS, [], "unknown tool")] == ["calculator"]


def test_replans_leave_out_work_already_done_or_refused():
    observations = [
        {"tool": "search_docs", "args": {"query": "refund policy", "k": 3}, "ok": True, "status": "done"},
        {"tool": "send_email", "args": {"to": "x@y.z"}, "ok": False, "status": "rejected"},
    ]
    assert plan_steps("email alice@example.com a summary of the refund policy", TOOLS, observations, "rejected") == []


def test_references_are_filled_from_the_named_step():
    observations = [
        {"step": 0, "tool": "calculator", "ok": True, "status": "done", "data": {"expression": "2+2", "result": 4}}
    ]
    assert fill_references({"body": "Result: {{step:1}}", "n": 3}, observations) == {"body": "Result: 2+2 = 4", "n": 3}


def test_answer_is_honest_about_rejections_and_early_stops():
    answer = write_answer(
        {
            "observations": [
                {
                    "step": 0,
                    "tool": "send_email",
                    "ok": False,
                    "status": "rejected",
                    "feedback": "not now",
                    "error": "rejected by reviewer",
                }
            ],
            "stop_reason": "the step limit of 1 was reached",
        }
    )
    assert "the reviewer rejected it (not now)" in answer
    assert "I stopped before finishing: the step limit of 1 was reached." in answer


def test_the_model_plans_through_tool_calling_and_is_deterministic():
    model = OfflineChatModel().bind_tools([Plan], tool_choice="Plan")
    prompt = [
        SystemMessage("plan\n" + embed({"tools": [{"name": "calculator"}], "observations": []})),
        HumanMessage("what is 12*12?"),
    ]
    first, second = model.invoke(prompt), model.invoke(prompt)
    assert first.tool_calls[0]["name"] == "Plan"
    assert first.tool_calls[0]["args"]["steps"][0]["args"] == {"expression": "12*12"}
    assert first.tool_calls == second.tool_calls
    assert first.usage_metadata["total_tokens"] > 0
