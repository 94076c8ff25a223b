"""The agent on the real Postgres checkpointer with the offline model: full runs and approvals."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.types import Command

from tests.support.agents import make_graph, user

EMAIL_REQUEST = "email alice@example.com a summary of the refund policy"


async def outbox_rows(pool: Any, thread_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM outbox WHERE thread_id = %s ORDER BY id", (thread_id,))
        return await cur.fetchall()


def thread_of(config: dict[str, Any]) -> str:
    return config["configurable"]["thread_id"]


async def test_a_question_runs_to_a_grounded_final_answer(pool, thread_config):
    graph = make_graph(pool)
    result = await graph.ainvoke(user("How many days do I have to request a refund?"), thread_config)

    assert [o["tool"] for o in result["observations"]] == ["search_docs"]
    assert "30 days" in result["final_answer"]
    assert result["messages"][-1].content == result["final_answer"]
    state = await graph.aget_state(thread_config)
    assert state.next == ()
    assert state.values["steps"] == 1 and state.values["tokens"] > 0


async def test_multi_tool_request_runs_every_step(pool, thread_config):
    graph = make_graph(pool)
    result = await graph.ainvoke(user("what is (2+3)*4 and what time is it in Tokyo?"), thread_config)

    assert [o["tool"] for o in result["observations"]] == ["calculator", "get_time"]
    assert "(2+3)*4 = 20" in result["final_answer"]
    assert "Asia/Tokyo" in result["final_answer"]


async def test_send_email_pauses_with_a_payload_a_reviewer_can_act_on(pool, thread_config):
    graph = make_graph(pool)
    result = await graph.ainvoke(user(EMAIL_REQUEST), thread_config)

    (interrupt,) = result["__interrupt__"]
    payload = interrupt.value
    assert payload["tool"] == "send_email"
    assert payload["approval_id"].startswith("apr_")
    assert payload["args"]["to"] == "alice@example.com"
    assert "30 days" in payload["args"]["body"], "the body is filled from the search step's result"
    assert payload["risk"] == "dangerous"
    assert payload["purpose"]
    assert payload["preview"].startswith("send email to alice@example.com, subject 'Summary: refund policy'")
    state = await graph.aget_state(thread_config)
    assert state.next == ("approve",)
    assert state.tasks[0].interrupts[0].value == payload
    assert await outbox_rows(pool, thread_of(thread_config)) == [], "nothing is sent before approval"


async def test_approved_email_is_queued_exactly_once(pool, thread_config):
    graph = make_graph(pool)
    await graph.ainvoke(user(EMAIL_REQUEST), thread_config)
    result = await graph.ainvoke(Command(resume={"decision": "approve"}), thread_config)

    rows = await outbox_rows(pool, thread_of(thread_config))
    assert len(rows) == 1
    assert rows[0]["recipient"] == "alice@example.com" and rows[0]["status"] == "queued"
    assert "alice@example.com" in result["final_answer"]
    # A resume with no pending interrupt changes nothing and sends nothing again.
    await graph.ainvoke(Command(resume={"decision": "approve"}), thread_config)
    assert len(await outbox_rows(pool, thread_of(thread_config))) == 1


async def test_edited_email_is_sent_with_the_edited_arguments(pool, thread_config):
    graph = make_graph(pool)
    await graph.ainvoke(user(EMAIL_REQUEST), thread_config)
    edit = {"decision": "edit", "args": {"subject": "Refunds, in short", "to": "bob@example.com"}}
    result = await graph.ainvoke(Command(resume=edit), thread_config)

    (row,) = await outbox_rows(pool, thread_of(thread_config))
    assert (row["recipient"], row["subject"]) == ("bob@example.com", "Refunds, in short")
    assert "30 days" in row["body"], "fields not edited keep their planned values"
    assert result["observations"][-1]["args"]["to"] == "bob@example.com"


async def test_rejected_email_is_never_sent_and_the_answer_says_why(pool, thread_config):
    graph = make_graph(pool)
    await graph.ainvoke(user(EMAIL_REQUEST), thread_config)
    reject = {"decision": "reject", "feedback": "do not email customers about policy"}
    result = await graph.ainvoke(Command(resume=reject), thread_config)

    assert await outbox_rows(pool, thread_of(thread_config)) == []
    rejected = [o for o in result["observations"] if o["status"] == "rejected"]
    assert rejected and rejected[0]["feedback"] == "do not email customers about policy"
    assert "rejected" in result["final_answer"] and "do not email customers" in result["final_answer"]
    state = await graph.aget_state(thread_config)
    assert state.next == ()


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"decision": "maybe"}, "decision must be one of"),
        ("yes", "must be an object"),
        ({"decision": "edit"}, "an edit needs `args`"),
        ({"decision": "edit", "args": {"to": "not-an-address"}}, "edited arguments are invalid"),
    ],
)
async def test_invalid_resume_values_are_refused_and_the_thread_stays_paused(pool, thread_config, value, complaint):
    graph = make_graph(pool)
    await graph.ainvoke(user(EMAIL_REQUEST), thread_config)
    result = await graph.ainvoke(Command(resume=value), thread_config)

    (interrupt,) = result["__interrupt__"]
    assert complaint in interrupt.value["error"]
    assert (await graph.aget_state(thread_config)).next == ("approve",)
    assert await outbox_rows(pool, thread_of(thread_config)) == []
    # The same pause then takes a valid answer.
    await graph.ainvoke(Command(resume={"decision": "approve"}), thread_config)
    assert len(await outbox_rows(pool, thread_of(thread_config))) == 1


async def test_ticket_request_opens_one_ticket(pool, thread_config):
    graph = make_graph(pool)
    result = await graph.ainvoke(user("Please open a ticket: my order arrived damaged, urgent"), thread_config)

    (obs,) = result["observations"]
    assert obs["tool"] == "create_ticket" and obs["ok"]
    assert obs["data"]["priority"] == "urgent"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM tickets WHERE thread_id = %s", (thread_of(thread_config),))
        assert (await cur.fetchone())["n"] == 1
