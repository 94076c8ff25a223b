"""Retrieval and extractive answers over the bundled knowledge base (issue 22): the right passage, the sentence that
answers, its source, a plain "our documents don't cover that", and every part of a request planned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm.offline_rules import fill_references, plan_steps, write_answer
from tools.base import ToolEnv
from tools.docs import SearchDocsArgs, search_docs
from tools.knowledge_base import KnowledgeBase, default_knowledge_base, split_sentences

ENV = ToolEnv(idempotency_key="t")
TOOLS = {"search_docs", "calculator", "get_time", "create_ticket", "send_email"}


async def _ask(query: str) -> dict[str, Any]:
    result = await search_docs.fn(SearchDocsArgs(query=query), ENV)
    assert result.ok
    return dict(result.data or {})


def _answer(query: str, data: dict[str, Any]) -> str:
    observation = {"step": 0, "tool": "search_docs", "args": {"query": query}, "ok": True, "status": "done"}
    return write_answer({"observations": [observation | {"data": data}]})


# --- retrieval ------------------------------------------------------------------------------------------------------


def test_a_heading_match_outranks_the_same_words_in_a_body(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Gear\n\n## Care\n\nWash it cold. Dry it flat. A tent stays dry if aired.\n")
    (tmp_path / "b.md").write_text("# Camp\n\n## Tent care\n\nAir it after every trip.\n")
    hits = KnowledgeBase.from_folder(tmp_path).search("tent care", k=2)
    assert [h.source for h in hits][0] == "b.md"


def test_generic_words_do_not_pick_the_passage():
    # The refund window passage says "days" three times and "warranty policy" once; the key term "warranty" decides.
    hits = default_knowledge_base().search("How many days is the warranty policy?", k=3)
    assert {h.source for h in hits} == {"warranty.md"}


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "Book me a flight to Paris next Tuesday",
        "zebra quantum xylophone",
        "broken checkout page",  # "broken" alone (broken zippers) is not the question
    ],
)
def test_a_question_the_documents_do_not_cover_finds_nothing(question: str):
    assert default_knowledge_base().search(question) == []


def test_a_question_with_a_preamble_still_finds_its_answer():
    hits = default_knowledge_base().search("Ignore my typo earlier — how long is the warranty on apparel?", k=1)
    assert hits[0].section == "Warranty periods"


def test_list_items_and_prose_are_cut_into_sentences():
    text = "Intro line one\ncontinues here. Second one.\n\n- Item one: 5-year.\n- Item two\n  continued.\nAfter."
    assert split_sentences(text) == [
        "Intro line one continues here.",
        "Second one.",
        "Item one: 5-year.",
        "Item two continued.",
        "After.",
    ]


# --- extractive answers ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_refund_window_answer_is_the_30_day_sentence_with_its_source():
    data = await _ask("How many days do I have to ask for a refund?")
    answer = _answer("How many days do I have to ask for a refund?", data)
    assert "You can request a refund within 30 days of the delivery date" in answer
    assert "(refunds.md › Refund window)" in answer
    assert "partial refund" not in answer.lower() and "price adjustment" not in answer.lower()
    # The whole passages stay in the observation.
    assert any(p["section"] == "Refund window" and "\n" in p["text"] for p in data["passages"])


@pytest.mark.asyncio
async def test_muddy_boots_are_answered_by_the_outdoor_use_sentence():
    data = await _ask("Can I get a refund for boots I wore on a muddy hike?")
    first = data["answer"][0]
    assert first["text"].startswith("Gear that shows signs of outdoor use")
    assert (first["source"], first["section"]) == ("refunds.md", "Refund window")


@pytest.mark.asyncio
async def test_every_extracted_sentence_is_in_a_returned_passage():
    for question in ("Which payment methods do you accept?", "How long is the warranty on an Acme-brand tent?"):
        data = await _ask(question)
        folded = {" ".join(p["text"].split()) for p in data["passages"]}
        assert data["answer"]
        assert all(any(e["text"] in text for text in folded) for e in data["answer"])


@pytest.mark.asyncio
async def test_an_uncovered_question_is_answered_plainly():
    data = await _ask("What is the capital of Australia?")
    assert data["passages"] == [] and data["answer"] == []
    answer = _answer("What is capital of Australia", data)
    assert answer.startswith("Our documents don't cover that")
    assert "shipping" not in answer.lower()


@pytest.mark.asyncio
async def test_a_topic_summary_covers_only_that_topic():
    data = await _ask("warranty policy")
    assert data["answer"] and {e["source"] for e in data["answer"]} == {"warranty.md"}
    assert any("5-year" in e["text"] for e in data["answer"])


# --- planning every part --------------------------------------------------------------------------------------------


def test_arithmetic_and_a_policy_question_are_two_steps():
    steps = plan_steps("What is 2+2, and how long is the refund window?", TOOLS, [], None)
    assert [s["tool"] for s in steps] == ["calculator", "search_docs"]
    assert steps[0]["args"] == {"expression": "2+2"}
    assert "refund window" in steps[1]["args"]["query"]


def test_a_pleasantry_is_no_part_to_look_up():
    steps = plan_steps("Thanks! And what is (2+3)*4?", TOOLS, [], None)
    assert [s["tool"] for s in steps] == ["calculator"]


@pytest.mark.parametrize(
    "question", ["What is the response time for an urgent ticket?", "What priority did that ticket get?"]
)
def test_a_question_about_tickets_opens_none_and_reads_no_clock(question: str):
    assert [s["tool"] for s in plan_steps(question, TOOLS, [], None)] == ["search_docs"]


def test_a_ticket_asked_for_with_a_question_still_opens_one():
    steps = plan_steps("Open a ticket about the broken checkout page, and what time is it in London?", TOOLS, [], None)
    assert {"create_ticket", "get_time"} <= {s["tool"] for s in steps}


def test_a_topic_stops_where_the_next_part_starts_and_keeps_what_went_wrong():
    request = "Explain the warranty policy on backpacks and open a ticket: my backpack zipper broke after a month"
    search = plan_steps(request, TOOLS, [], None)[0]
    assert search["tool"] == "search_docs"
    assert "ticket" not in search["args"]["query"] and "zipper" in search["args"]["query"]


@pytest.mark.asyncio
async def test_a_warranty_summary_email_body_is_about_the_warranty():
    steps = plan_steps("email bob@example.com a summary of the warranty policy", TOOLS, [], None)
    data = await _ask(steps[0]["args"]["query"])
    observation = {"step": 0, "tool": "search_docs", "args": steps[0]["args"], "ok": True, "status": "done"}
    body = fill_references(steps[1]["args"], [observation | {"data": data}])["body"]
    assert "warranty.md ›" in body and "refunds.md" not in body and "Refund window" not in body


@pytest.mark.parametrize(
    ("request_text", "observations", "says_unsent"),
    [
        ("Email my manager the refund policy", [], True),
        ("Send me the refund policy", [], False),  # "send me": the answer is the sending
        ("email bob@example.com the refund policy", [], False),
        ("email a summary of the refund policy", [{"tool": "send_email", "ok": False, "status": "rejected"}], False),
    ],
)
def test_an_email_asked_for_without_an_address_is_said_to_be_unsent(
    request_text: str, observations: list[dict[str, Any]], says_unsent: bool
):
    answer = write_answer({"observations": observations, "request": request_text})
    assert ("names no address" in answer) is says_unsent


@pytest.mark.asyncio
async def test_an_action_no_tool_does_is_said_to_be_not_done_before_what_the_documents_say():
    request = "Transfer $500 from my store credit to my friend's account"
    steps = plan_steps(request, TOOLS, [], None)
    assert [s["tool"] for s in steps] == ["search_docs"]
    data = await _ask(steps[0]["args"]["query"])
    observation = {"step": 0, "tool": "search_docs", "args": steps[0]["args"], "ok": True, "status": "done"}
    answer = write_answer({"observations": [observation | {"data": data}], "request": request})
    assert answer.startswith("I can't transfer that for you")
    # Asking for a person is no action the agent refuses.
    assert "can't" not in write_answer({"observations": [], "request": "Please transfer me to an agent"})


@pytest.mark.asyncio
async def test_the_question_verb_does_not_pick_the_sentence():
    # "take" and "cost" are how the question is asked; "standard" is what it is about.
    data = await _ask("How long does standard shipping take and how much does it cost?")
    assert data["answer"][0]["text"].startswith("Standard shipping: 3-7 business days, $5.95")
