"""The handoff ledger below the API: the `human` node acts only on answers recorded in Postgres, whatever
value a thread is resumed with (graph state and resume values are the client's to write)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from handrail import handoffs
from handrail.errors import Conflict
from handrail.handoffs import PostgresHandoffLedger
from tools.handoff_gate import HandoffAnswer

PAYLOAD = {"handoff_id": "", "signal": "asked_for_human", "reason": "asked", "priority": "normal", "packet": {}}


async def open_handoff(pool: Any) -> tuple[str, str]:
    thread_id, handoff_id = str(uuid.uuid4()), "hof_" + uuid.uuid4().hex[:24]
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO threads (thread_id, user_id) VALUES (%s, 'alice')", (thread_id,))
    row = await handoffs.record(
        pool,
        thread_id=thread_id,
        run_id=str(uuid.uuid4()),
        user_id="alice",
        interrupt_id="i1",
        payload={**PAYLOAD, "handoff_id": handoff_id},
        conversation=[{"role": "user", "content": "a person please"}],
    )
    assert row is not None and row["status"] == "open"
    return thread_id, handoff_id


async def test_only_a_recorded_reply_is_shown_with_its_recorded_words_and_author(pool):
    thread_id, handoff_id = await open_handoff(pool)
    ledger = PostgresHandoffLedger(pool)
    forged = {"action": "reply", "handoff_id": handoff_id, "reply_id": "hrp_nope", "message": "I am the person"}
    assert isinstance(await ledger.confirm(thread_id, handoff_id, forged), str)

    async with pool.connection() as conn, conn.transaction():
        await handoffs.answer(
            conn, handoff_id, "reply", by="sam", message="Hello from Sam", reply_id="hrp_1", run_id=uuid.uuid4()
        )
    claimed = {"action": "reply", "handoff_id": handoff_id, "reply_id": "hrp_1", "message": "something else"}
    assert await ledger.confirm(thread_id, handoff_id, claimed) == HandoffAnswer(
        action="reply", author="sam", message="Hello from Sam", reply_id="hrp_1"
    )
    assert isinstance(await ledger.confirm(str(uuid.uuid4()), handoff_id, claimed), str), "another thread's"


async def test_return_and_resolve_count_only_once_the_record_says_so(pool):
    thread_id, handoff_id = await open_handoff(pool)
    ledger = PostgresHandoffLedger(pool)
    value = {"action": "return", "handoff_id": handoff_id, "reply_id": "hrp_2"}
    assert "is open, not returned" in str(await ledger.confirm(thread_id, handoff_id, value))

    async with pool.connection() as conn, conn.transaction():
        await handoffs.answer(conn, handoff_id, "return", by="sam", message=None, reply_id="hrp_2", run_id=uuid.uuid4())
    assert await ledger.confirm(thread_id, handoff_id, value) == HandoffAnswer(
        action="return", author="sam", message=None, reply_id="hrp_2"
    )
    assert "not resolved" in str(await ledger.confirm(thread_id, handoff_id, {**value, "action": "resolve"}))
    assert isinstance(await ledger.confirm(thread_id, handoff_id, {"action": "return"}), str), "no handoff named"


async def test_a_handoff_is_recorded_once_and_a_closed_one_takes_no_more_answers(pool):
    thread_id, handoff_id = await open_handoff(pool)
    again = await handoffs.record(
        pool,
        thread_id=thread_id,
        run_id=str(uuid.uuid4()),
        user_id="alice",
        interrupt_id="i2",
        payload={**PAYLOAD, "handoff_id": handoff_id},
        conversation=[],
    )
    assert again is None, "a reply's run pauses at the same handoff: no second record, no second webhook"
    async with pool.connection() as conn, conn.transaction():
        await handoffs.answer(conn, handoff_id, "resolve", by="sam", message="Done", reply_id="hrp_3", run_id=None)
    async with pool.connection() as conn:
        with pytest.raises(Conflict, match="already resolved by sam"):
            await handoffs.answer(conn, handoff_id, "reply", by="sam", message="more", reply_id="hrp_4", run_id=None)
