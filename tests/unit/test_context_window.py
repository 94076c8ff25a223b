"""The context window: the latest turns within their token budget, a summary of the rest, a bounded state."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage

from llm.offline_summary import summarize
from llm.tokens import estimate
from llm.usage import Usage
from nodes.window import compact, turns, window


def conversation(n: int, words: int = 5) -> list:
    out: list = []
    for i in range(1, n + 1):
        out += [HumanMessage(f"question {i} " + "word " * words, id=f"h{i}"), AIMessage(f"answer {i}", id=f"a{i}")]
    return out


def test_a_turn_starts_at_each_user_message():
    split = turns([AIMessage("greeting", id="g"), *conversation(2)])
    assert [[m.id for m in t] for t in split] == [["g"], ["h1", "a1"], ["h2", "a2"]]


def test_the_window_keeps_the_last_turns_and_the_latest_request_whatever_its_size():
    messages = conversation(30)
    assert [m.id for m in window(messages, None, max_turns=3, max_tokens=10_000, count=estimate)] == [
        "h28", "a28", "h29", "a29", "h30", "a30",
    ]  # fmt: skip
    assert [m.id for m in window(messages, None, max_turns=8, max_tokens=45, count=estimate)] == [
        "h29",
        "a29",
        "h30",
        "a30",
    ]
    huge = [*messages, HumanMessage("x " * 5_000, id="big")]
    assert [m.id for m in window(huge, None, max_turns=8, max_tokens=45, count=estimate)] == ["big"]


def test_the_summary_takes_its_share_of_the_token_budget():
    messages = conversation(30)
    alone = window(messages, None, max_turns=8, max_tokens=200, count=estimate)
    with_summary = window(messages, "Agent: earlier " * 30, max_turns=8, max_tokens=200, count=estimate)
    assert 0 < len(with_summary) < len(alone)


def test_the_rule_summary_drops_old_lines_first_and_the_users_statements_last():
    turns_said = [{"role": "user", "text": "my manager is dana@acme.test"}] + [
        {"role": "user" if i % 2 == 0 else "ai", "text": f"filler line number {i} " * 3} for i in range(60)
    ]
    text = summarize({"summary_so_far": "", "turns": turns_said, "summary_tokens": 100})
    assert len(text) <= 400
    assert text.splitlines()[0] == "User: my manager is dana@acme.test"
    assert "filler line number 59" in text and "filler line number 0 " not in text


async def rule_only(prompt):
    return None


async def test_compacting_folds_the_turns_leaving_the_window_once_and_trims_only_what_is_summarized():
    messages = conversation(10)
    answer = AIMessage("answer 11", id="a11")
    state = {"messages": [*messages, HumanMessage("question 11", id="h11")]}

    update, used = await compact(
        state, answer, ask=rule_only, max_turns=3, max_tokens=10_000, state_max_messages=6, count=estimate
    )

    assert used == Usage()
    assert update["summarized_through"] == "a9" and "question 1 " in update["summary"]
    assert "question 10" not in update["summary"], "the last max_turns-1 turns stay verbatim, out of the summary"
    removed = [m.id for m in update["messages"]]
    assert all(isinstance(m, RemoveMessage) for m in update["messages"])
    assert removed == [f"{k}{i}" for i in range(1, 9) for k in ("h", "a")][: len(removed)]
    assert len(messages) + 2 - len(removed) == 6

    again, _ = await compact(
        {**state, "summary": update["summary"], "summarized_through": "a9"},
        answer,
        ask=rule_only,
        max_turns=3,
        max_tokens=10_000,
        state_max_messages=0,
        count=estimate,
    )
    assert "summary" not in again, "nothing new left the window: no second summary of the same turns"


async def test_a_model_summary_is_used_when_the_model_answers():
    async def model(prompt):
        assert "question 1 " in prompt[0].content
        return "the user asked ten questions", Usage(tokens=42)

    update, used = await compact(
        {"messages": conversation(10)},
        AIMessage("x", id="x"),
        ask=model,
        max_turns=2,
        max_tokens=10_000,
        state_max_messages=0,
        count=estimate,
    )
    assert update["summary"] == "the user asked ten questions" and used.tokens == 42 and "messages" not in update
