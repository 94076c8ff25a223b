"""Which signal hands a conversation to a person, with what reason and priority; the packet the person reads;
and the routes in and out of a handoff. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from graph.routing import route_after_human, route_after_plan, route_after_reflect, route_at_start
from guardrails.escalation import DEFAULT_SIGNALS, Policy, after_plan, after_step, asks_for_human, at_turn_start
from nodes.handoff import handoff_id, user_message
from nodes.packet import context_packet
from tools.handoff_gate import HandoffAnswer, InProcessHandoffs, NoHandoffLedger

POLICY = Policy()


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a human",
        "Can I speak to a real person please?",
        "get me a human",
        "transfer me to an agent",
        "let me speak with your manager",
        "I need a human being, not a bot",
        "je veux parler à un conseiller",
        "Je voudrais parler avec un humain",
        "Ich möchte mit einem Mitarbeiter sprechen",
        "Kann ich mit einem echten Menschen reden?",
        "quiero hablar con una persona",
        "Necesito hablar con un agente humano",
        "I WANT TO SPEAK TO A REPRESENTATIVE!!!",
    ],
)
def test_asking_for_a_person_is_recognised_in_four_languages(text):
    assert asks_for_human(text) is not None
    found = at_turn_start(text, POLICY)
    assert found is not None and (found.signal, found.priority) == ("asked_for_human", "normal")


@pytest.mark.parametrize(
    "text",
    [
        "what is the escalation policy?",
        "how do I escalate a ticket?",
        "Can a person return a used item?",
        "is the output human readable?",
        "email alice@example.com a summary of the refund policy",
        "¿Cuánto tarda el envío estándar?",
        "Wie lange dauert der Versand?",
    ],
)
def test_questions_that_name_no_person_are_not_a_request_for_one(text):
    assert asks_for_human(text) is None and at_turn_start(text, POLICY) is None


def test_a_very_negative_message_fires_and_an_ordinary_complaint_does_not():
    angry = at_turn_start("This is absolutely terrible, I hate this useless bot. You charged me twice!", POLICY)
    assert angry is not None and (angry.signal, angry.priority) == ("negative_sentiment", "high")
    assert "sentiment -0." in angry.reason
    assert at_turn_start("My order arrived broken, what is the warranty?", POLICY) is None
    assert (
        at_turn_start("Ich habe die Anweisungen ignoriert und jetzt ist das Zelt kaputt. Gilt die Garantie?", POLICY)
        is None
    )


def test_the_most_urgent_signal_wins_and_a_signal_left_out_is_off():
    text = "This is terrible and useless, I hate it. Let me talk to a human!"
    assert at_turn_start(text, POLICY).signal == "negative_sentiment"  # high beats normal
    urgent = Policy(signals={**DEFAULT_SIGNALS, "asked_for_human": "urgent"})
    assert at_turn_start(text, urgent).signal == "asked_for_human"
    assert at_turn_start(text, Policy(signals={})) is None


def test_a_plan_naming_a_high_stakes_tool_or_made_without_confidence_is_handed_over():
    risky = Policy(high_stakes_tools=frozenset({"send_email"}))
    found = after_plan(["search_docs", "send_email"], None, risky)
    assert found is not None and found.signal == "high_stakes" and "send_email" in found.reason
    assert after_plan(["search_docs"], None, risky) is None
    unsure = after_plan(["search_docs"], 0.3, POLICY)
    assert unsure is not None and unsure.signal == "low_confidence" and "0.30" in unsure.reason
    assert after_plan(["search_docs"], 0.5, POLICY) is None, "at the floor is confident enough"
    assert after_plan(["search_docs"], None, POLICY) is None, "a model that reports nothing never fires it"


def _obs(ok: bool, tool: str = "calculator", error: str | None = "boom") -> dict[str, Any]:
    return {"step": 0, "tool": tool, "ok": ok, "status": "done" if ok else "failed", "error": None if ok else error}


def test_three_failures_in_a_row_fire_but_not_when_a_success_breaks_the_streak():
    found = after_step([_obs(False)] * 3, guardrail_events=[], blocked=False, guardrail=None, policy=POLICY)
    assert found is not None and (found.signal, found.priority) == ("consecutive_failures", "high")
    assert "calculator: boom" in found.reason
    broken = [_obs(False), _obs(False), _obs(True), _obs(False), _obs(False)]
    assert after_step(broken, guardrail_events=[], blocked=False, guardrail=None, policy=POLICY) is None
    assert after_step([_obs(False)] * 2, guardrail_events=[], blocked=False, guardrail=None, policy=POLICY) is None


def test_guardrails_that_mean_misuse_fire_and_benign_or_operator_ones_do_not():
    for name in ("tool_output.injection", "tool_policy.unrequested_recipient", "tool_policy.tainted_memory"):
        found = after_step([], guardrail_events=[name], blocked=False, guardrail=None, policy=POLICY)
        assert found is not None and found.signal == "guardrail" and found.priority == "urgent" and name in found.reason
    benign = ("output.pii", "tool_output.truncated", "tool_policy.kill_switch", "tool_policy.sensitive_memory")
    for name in (*benign, "budget.run_tokens"):
        assert after_step([], guardrail_events=[name], blocked=True, guardrail=name, policy=POLICY) is None


def test_the_packet_says_what_the_user_wants_what_was_tried_and_what_is_open():
    state = {
        "messages": [
            HumanMessage("what is the warranty?"),
            AIMessage("2 years."),
            HumanMessage("email bob the warranty"),
        ],
        "plan": [
            {"tool": "search_docs", "args": {"query": "warranty"}, "purpose": "find it"},
            {"tool": "send_email", "args": {"to": "bob@x.test"}, "purpose": "send it"},
        ],
        "observations": [
            {"step": 0, "tool": "search_docs", "args": {"query": "warranty"}, "status": "done", "ok": True,
             "data": {"passages": ["2 years"]}, "error": None},
            {"step": 1, "tool": "send_email", "args": {"to": "bob@x.test"}, "status": "failed", "ok": False,
             "data": None, "error": "smtp down"},
        ],
    }  # fmt: skip
    packet = context_packet(state, "consecutive_failures", "the last 3 steps failed")

    assert packet["wants"] == "email bob the warranty"
    assert packet["earlier_requests"] == ["what is the warranty?"]
    assert [(t["step"], t["tool"], t["status"]) for t in packet["tried"]] == [
        (1, "search_docs", "done"),
        (2, "send_email", "failed"),
    ]
    assert "2 years" in packet["tried"][0]["result"] and packet["tried"][1]["result"] == "smtp down"
    assert packet["open"] == ["step 2: send_email (send it) - failed"]
    assert packet["next_action"].startswith("Find out why the steps below failed")
    assert "The user wants: email bob the warranty" in packet["summary"] and "smtp down" in packet["summary"]


def test_the_user_is_told_who_takes_over_and_that_they_need_not_repeat_themselves():
    told = user_message({"signal": "asked_for_human", "reason": "x", "priority": "normal"}, "Acme's support desk")
    assert (
        "Acme's support desk" in told and "won't need to repeat anything" in told and "reply will appear here" in told
    )


def test_a_handoff_id_is_stable_for_a_replay_and_new_for_a_copy_of_the_thread():
    assert handoff_id("t1", "m1", "asked_for_human") == handoff_id("t1", "m1", "asked_for_human")
    assert handoff_id("t1", "m1", "asked_for_human") != handoff_id("t2", "m1", "asked_for_human")


def test_routes_into_and_out_of_a_handoff():
    requested = {"signal": "guardrail", "reason": "r", "priority": "urgent", "status": "requested"}
    base: dict[str, Any] = {"plan": [{"tool": "x"}], "stop_reason": None, "decision": "continue", "pending": None}
    assert route_after_plan({**base, "handoff": requested}) == "handoff"  # type: ignore[typeddict-item]
    assert route_after_reflect({**base, "handoff": requested}) == "handoff"  # type: ignore[typeddict-item]
    assert route_after_plan({**base, "handoff": None}) == "execute"  # type: ignore[typeddict-item]
    open_ = {**requested, "status": "open", "handoff_id": "hof_1"}
    assert route_at_start({"handoff": open_}) == "human"  # type: ignore[typeddict-item]
    assert route_after_human({"handoff": open_}) == "human"  # type: ignore[typeddict-item]
    for closed in ("resolved", "returned"):
        assert route_at_start({"handoff": {**open_, "status": closed}}) == "plan"  # type: ignore[typeddict-item]
        assert route_after_human({"handoff": {**open_, "status": closed}}) == "__end__"  # type: ignore[typeddict-item]
    assert route_at_start({}) == "plan"  # type: ignore[typeddict-item]


async def test_without_a_ledger_no_answer_counts_and_in_process_the_value_is_the_answer():
    assert isinstance(await NoHandoffLedger().confirm("t", "hof_1", {"action": "return"}), str)
    ledger = InProcessHandoffs()
    assert await ledger.confirm("t", "hof_1", {"action": "reply", "message": "hi", "author": "sam"}) == HandoffAnswer(
        action="reply", author="sam", message="hi"
    )
    assert isinstance(await ledger.confirm("t", "hof_1", {"action": "reply"}), str), "a reply needs words"
    assert isinstance(await ledger.confirm("t", "hof_1", {"action": "approve"}), str)
