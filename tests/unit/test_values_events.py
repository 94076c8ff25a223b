"""`values` events stored as deltas: what the encoder writes, the decoder reads back whole."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph.message import add_messages

from handrail.runs.events import ValuesDecoder, ValuesEncoder
from handrail.serialize import MessageJson, to_json


def states() -> list[dict]:
    """Successive values of one run, as LangGraph's reducers hand them over."""
    history = add_messages([], [HumanMessage("hello", id="h1")])
    first = {"messages": history, "plan": [], "cursor": 0, "note": "x"}
    grown = {**first, "messages": add_messages(history, [AIMessage("hi there", id="a1")]), "cursor": 1}
    replaced = {**grown, "messages": add_messages(grown["messages"], [AIMessage("edited", id="a1")])}
    removed = {**replaced, "messages": add_messages(replaced["messages"], [RemoveMessage(id="h1")])}
    dropped = {k: v for k, v in removed.items() if k != "note"}
    return [first, grown, grown, replaced, removed, dropped]


def test_every_event_reads_back_as_the_whole_state():
    encoder, decoder = ValuesEncoder(), ValuesDecoder()
    for seq, chunk in enumerate(states(), start=1):
        data, is_delta = encoder.encode(chunk)
        assert decoder.take(seq, data, seq - 1 if is_delta else None) == to_json(chunk)
        assert encoder.state == to_json(chunk)


def test_a_grown_history_is_stored_as_its_new_messages_only():
    first, grown = states()[:2]
    encoder = ValuesEncoder()
    encoder.encode(first)

    delta, is_delta = encoder.encode(grown)

    assert is_delta
    assert delta == {"set": {"cursor": 1}, "append": {"messages": [to_json(grown["messages"][-1])]}}


def test_a_reader_that_missed_the_base_event_is_told_so_instead_of_reading_a_wrong_state():
    decoder = ValuesDecoder()
    decoder.take(1, {"cursor": 0}, None)
    with pytest.raises(LookupError):
        decoder.take(3, {"set": {"cursor": 2}}, 2)


def test_the_final_state_reuses_the_last_events_json_only_when_it_holds_the_same_objects():
    encoder = ValuesEncoder()
    last = states()[1]
    encoder.encode(last)
    read_back = {**last, "messages": list(last["messages"])}  # a copy of the list, the same messages
    assert encoder.json_of(read_back) == to_json(last)

    # Anything that is not the same object is serialised afresh, never taken from the event.
    other = {**last, "messages": [*last["messages"][:-1], AIMessage("a different answer", id="a1")]}
    assert encoder.json_of(other) == to_json(other) != to_json(last)
    assert encoder.json_of({**last, "cursor": 7}) == to_json({**last, "cursor": 7})
    assert encoder.json_of({k: v for k, v in last.items() if k != "note"})["cursor"] == 1


def test_keys_the_event_did_not_carry_are_serialised_and_the_rest_reused():
    encoder = ValuesEncoder()
    last = states()[1]
    encoder.encode({k: v for k, v in last.items() if k != "plan"})  # the stream's output keys only
    full = {**last, "messages": list(last["messages"]), "plan": [{"tool": "calculator"}]}
    assert encoder.json_of(full) == to_json(full)


def test_a_shared_message_cache_gives_the_same_json_and_follows_replaced_messages():
    cache = MessageJson(limit=3)
    chunks = states()
    plain, cached = ValuesEncoder(), ValuesEncoder(cache)
    for chunk in chunks:
        assert cached.encode(chunk) == plain.encode(chunk)
    # An edited message is a new object with the same id: its JSON is its own, never the cached one.
    edited = AIMessage("edited again", id="a1")
    assert to_json([edited], cache) == to_json([edited]) and to_json([edited], cache)[0]["content"] == "edited again"
