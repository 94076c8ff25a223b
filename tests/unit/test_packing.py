"""Conversations packed message by message must be byte for byte what LangGraph's serialiser writes."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from handrail.packing import MIN_ITEMS, ConversationSerde, PackedMessages


def conversation(turns: int) -> list:
    messages: list = []
    for i in range(turns):
        messages += [
            HumanMessage(f"question {i}: é ✓ \ud800", id=f"h{i}"),  # a lone surrogate is replaced, as stock does
            AIMessage(
                "", id=f"a{i}", tool_calls=[{"name": "calculator", "args": {"expression": "2+2"}, "id": f"c{i}"}]
            ),
            ToolMessage('{"ok": true, "data": 4}', tool_call_id=f"c{i}", id=f"t{i}"),
            AIMessage(
                f"answer {i}", id=f"f{i}", usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
            ),
        ]
    return messages


def test_every_list_length_packs_to_the_stock_bytes_and_reads_back():
    stock = JsonPlusSerializer()
    packed = PackedMessages(limit=100)
    serde = ConversationSerde(stock, packed)
    long = conversation(10) * 1_700  # past 65535 items: the 32-bit array header
    for n in (MIN_ITEMS - 1, MIN_ITEMS, 17, 100, 65_535, 65_536, len(long)):
        value = long[:n]
        typed = serde.dumps_typed(value)
        assert typed == stock.dumps_typed(value), n
        assert len(stock.loads_typed(typed)) == n
    # Twice over, now from the cache (and past its limit): still the same bytes.
    assert 0 < len(packed) <= 100
    assert serde.dumps_typed(long[:500]) == stock.dumps_typed(long[:500])


def test_an_edited_message_is_a_new_object_and_is_packed_afresh():
    stock = JsonPlusSerializer()
    serde = ConversationSerde(stock, PackedMessages())
    messages = conversation(10)
    serde.dumps_typed(messages)
    messages[-1] = AIMessage("a corrected answer", id=messages[-1].id)
    read = stock.loads_typed(serde.dumps_typed(messages))
    assert read[-1].content == "a corrected answer" and read == stock.loads_typed(stock.dumps_typed(messages))


def test_anything_else_is_left_to_the_stock_serialiser():
    stock = JsonPlusSerializer()
    serde = ConversationSerde(stock, PackedMessages())
    for value in ([1, 2, 3] * 10, {"plan": []}, "text", None, [*conversation(5), "not a message"]):
        assert serde.dumps_typed(value) == stock.dumps_typed(value)
