"""The three-event `messages` form: metadata once per message, streamed chunks accumulated, whole messages."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from handrail.runs.modes import MessageEvents


def test_streamed_chunks_become_partials_of_the_whole_message_so_far():
    events = MessageEvents()
    meta = {"langgraph_node": "synthesize"}

    first = events.feed((AIMessageChunk(content="Hel", id="m1"), meta))
    second = events.feed((AIMessageChunk(content="lo", id="m1"), meta))

    assert first[0] == ("messages/metadata", {"m1": {"metadata": meta}})
    assert [(name, data[0]["content"]) for name, data in first[1:] + second] == [
        ("messages/partial", "Hel"),
        ("messages/partial", "Hello"),
    ]


def test_whole_messages_are_complete_and_each_id_is_described_once():
    events = MessageEvents()
    out = events.feed((AIMessage(content="done", id="a"), {"n": 1}))
    out += events.feed((ToolMessage(content="42", tool_call_id="c", id="t"), {"n": 2}))
    out += events.feed((AIMessage(content="done again", id="a"), {"n": 3}))

    assert [name for name, _ in out] == [
        "messages/metadata",
        "messages/complete",
        "messages/metadata",
        "messages/complete",
        "messages/complete",
    ]
    assert out[1][1][0]["content"] == "done" and out[-1][1][0]["content"] == "done again"


def test_anything_but_a_message_is_not_sent():
    assert MessageEvents().feed(("not a message", {})) == []
