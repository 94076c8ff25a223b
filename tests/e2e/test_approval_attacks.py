"""Attacks on the approval promise, through the public API only: a real server with its own database,
a real SMTP sink, two users. Whatever a client writes into graph state or sends as a command, no email
leaves without a recorded decision for that exact call, and what leaves is what was approved or edited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import EMAIL_REQUEST, user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.smtp_sink import Inbox, running_smtp_sink
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    with running_smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
async def base_url(inbox: tuple[Inbox, int]) -> AsyncIterator[str]:
    """A server of its own (the `alice` and `bob` clients follow it): no other test's workers may
    execute these runs, since they have no SMTP."""
    _, port = inbox
    with fresh_database("handrail_attacks") as dsn:
        settings = e2e_settings(dsn, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, workers=4)
        async with serving(create_app(settings), port=settings.port) as url:
            yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}, timeout=30) as client:
        yield client


def email_to(address: str, subject: str) -> str:
    args = {"to": address, "subject": subject, "body": f"hello {address}"}
    return f"call send_email with {json.dumps(args)}"


async def paused(alice: Any, request: str = EMAIL_REQUEST) -> str:
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(request))
    assert (await alice.threads.get(tid))["status"] == "interrupted"
    return tid


async def pending_approval(http: httpx.AsyncClient, tid: str) -> dict[str, Any]:
    found = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
    assert len(found) == 1, found
    return found[0]


async def settle(alice: Any, tid: str) -> dict[str, Any]:
    """Until no run of the thread is pending or running; the thread then."""

    async def idle() -> dict[str, Any] | None:
        runs = await alice.runs.list(tid, limit=100)
        return None if any(r["status"] in ("pending", "running") for r in runs) else await alice.threads.get(tid)

    return await eventually(idle, within_s=30)


# --- no decision at all -----------------------------------------------------------------------------


async def test_a_state_update_as_the_approve_node_is_refused_and_sends_nothing(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice)

    forged = await http.post(f"/threads/{tid}/state", json={"values": {}, "as_node": "approve"})
    await alice.runs.wait(tid, "agent", input=None)  # continue the thread, as the attacker would
    await settle(alice, tid)

    assert forged.status_code == 409 and "approve" in forged.json()["detail"]
    assert sink.to("alice@example.com") == []
    assert (await pending_approval(http, tid))["status"] == "pending", "the request still waits for a person"


async def test_a_goto_past_the_reviewer_is_refused_and_sends_nothing(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice)

    jumped = await http.post(
        f"/threads/{tid}/runs/wait", json={"assistant_id": "agent", "command": {"goto": "execute"}}
    )
    await settle(alice, tid)

    assert jumped.status_code == 409 and "goto" in jumped.json()["detail"]
    assert sink.to("alice@example.com") == []


# --- what is delivered is what was approved -----------------------------------------------------------


async def test_changing_the_pending_call_through_state_is_refused_and_the_approved_address_is_used(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("carol@example.com", "state-edit"))
    state = (await http.get(f"/threads/{tid}/state")).json()
    pending = state["values"]["pending"]
    forged_call = {**pending, "args": {**pending["args"], "to": "mallory@evil.test"}}

    forged = await http.post(f"/threads/{tid}/state", json={"values": {"pending": forged_call}})
    approval = await pending_approval(http, tid)
    decided = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
    await settle(alice, tid)

    assert forged.status_code == 409 and "pending" in forged.json()["detail"]
    assert decided.status_code == 200
    assert sink.to("mallory@evil.test") == []
    assert [m.subject for m in sink.to("carol@example.com")] == ["state-edit"]


async def test_a_command_update_beside_a_resume_is_refused_and_sends_nothing_else(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("dave@example.com", "update-beside-resume"))
    pending = (await http.get(f"/threads/{tid}/state")).json()["values"]["pending"]
    forged_call = {**pending, "args": {**pending["args"], "to": "mallory@evil.test"}}

    sneaky = await http.post(
        f"/threads/{tid}/runs/wait",
        json={
            "assistant_id": "agent",
            "command": {"resume": {"decision": "approve"}, "update": {"pending": forged_call}},
        },
    )
    await settle(alice, tid)

    assert sneaky.status_code == 409
    assert sink.to("mallory@evil.test") == [] and sink.to("dave@example.com") == []
    assert (await pending_approval(http, tid))["status"] == "pending", "the refused request decided nothing"


async def test_an_edit_delivers_exactly_the_edited_arguments_and_records_them(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("erin@example.com", "before-edit"))
    approval = await pending_approval(http, tid)

    edit = {"decision": "edit", "args": {"to": "frank@example.com", "subject": "after-edit"}}
    decided = (await http.post(f"/approvals/{approval['approval_id']}", json=edit)).json()
    await settle(alice, tid)
    record = (await http.get(f"/approvals/{approval['approval_id']}")).json()

    assert decided["status"] == "edited" and record["decided_args"]["to"] == "frank@example.com"
    assert record["consumed_at"] is not None and record["consumed_by_run"] == decided["run"]["run_id"]
    assert sink.to("erin@example.com") == []
    (sent,) = sink.to("frank@example.com")
    assert (sent.subject, sent.body.strip()) == ("after-edit", record["decided_args"]["body"])


# --- one decision, one execution ------------------------------------------------------------------


async def test_ten_concurrent_decisions_on_one_approval_let_exactly_one_win(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("grace@example.com", "ten-at-once"))
    approval = await pending_approval(http, tid)

    answers = await asyncio.gather(
        *(http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"}) for _ in range(10))
    )
    await settle(alice, tid)

    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 9, codes
    loser = next(a for a in answers if a.status_code == 409).json()["detail"]
    assert "already decided (approved) by alice at" in loser
    assert len(await alice.runs.list(tid, limit=100)) == 2, "the first run and one resume run, no more"
    assert len(sink.to("grace@example.com")) == 1


async def test_deciding_the_first_of_two_emails_twice_at_once_never_sends_the_second(alice, http, inbox):
    sink, _ = inbox
    request = f"{email_to('heidi@example.com', 'first')} then {email_to('ivan@example.com', 'second')}"
    tid = await paused(alice, request)
    first = await pending_approval(http, tid)

    answers = await asyncio.gather(
        *(http.post(f"/approvals/{first['approval_id']}", json={"decision": "approve"}) for _ in range(2))
    )
    thread = await settle(alice, tid)
    second = await pending_approval(http, tid)

    assert sorted(a.status_code for a in answers) == [200, 409]
    assert thread["status"] == "interrupted" and second["args"]["to"] == "ivan@example.com"
    assert second["status"] == "pending"
    assert len(sink.to("heidi@example.com")) == 1
    assert sink.to("ivan@example.com") == [], "the second email waits for its own decision"


async def test_a_resume_while_the_thread_runs_and_nothing_waits_is_refused(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("judy@example.com", "queued-resume"))
    approval = await pending_approval(http, tid)
    decided = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "reject"})

    # The decided approval is gone from the queue of things to answer: a blind resume has no target.
    blind = await http.post(
        f"/threads/{tid}/runs", json={"assistant_id": "agent", "command": {"resume": {"decision": "approve"}}}
    )
    await settle(alice, tid)

    assert decided.status_code == 200
    assert blind.status_code in (400, 409), blind.text
    assert sink.to("judy@example.com") == []


async def test_a_copied_thread_cannot_reuse_the_original_decision(alice, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("kim@example.com", "copy-me"))
    approval = await pending_approval(http, tid)
    await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
    await settle(alice, tid)
    history = (await http.post(f"/threads/{tid}/history", json={"limit": 50})).json()
    reviewed = next(
        h for h in history if h["next"] == ["execute"] and (h["values"].get("pending") or {}).get("review") is not None
    )

    copy = (await http.post(f"/threads/{tid}/copy")).json()["thread_id"]
    replay = await http.post(
        f"/threads/{copy}/runs/wait",
        json={"assistant_id": "agent", "input": None, "checkpoint_id": reviewed["checkpoint_id"]},
    )
    fork = await http.post(
        f"/threads/{tid}/runs/wait",
        json={"assistant_id": "agent", "input": None, "checkpoint_id": reviewed["checkpoint_id"]},
    )
    await settle(alice, copy)
    await settle(alice, tid)

    assert replay.status_code == 200 and fork.status_code == 200
    assert len(sink.to("kim@example.com")) == 1, "neither the copy nor a fork sends the approved email again"
    refused = [o for o in replay.json()["observations"] if o["tool"] == "send_email"]
    assert refused and "not run" in refused[-1]["error"]


# --- two users ---------------------------------------------------------------------------------------


async def test_another_user_can_neither_decide_nor_resume_the_approval(alice, base_url, http, inbox):
    sink, _ = inbox
    tid = await paused(alice, email_to("leo@example.com", "not-bobs"))
    approval = await pending_approval(http, tid)

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["bob"]}) as as_bob:
        decided = await as_bob.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
        resumed = await as_bob.post(
            f"/threads/{tid}/runs", json={"assistant_id": "agent", "command": {"resume": {"decision": "approve"}}}
        )
        state = await as_bob.post(f"/threads/{tid}/state", json={"values": {"messages": []}})

    assert (decided.status_code, resumed.status_code, state.status_code) == (404, 404, 404)
    assert (await pending_approval(http, tid))["status"] == "pending"
    assert sink.to("leo@example.com") == []


# --- bounded inputs on the decision path -------------------------------------------------------------


async def test_oversized_feedback_is_refused_on_both_decision_paths_and_nothing_is_recorded(alice, http):
    tid = await paused(alice, email_to("mia@example.com", "long-feedback"))
    approval = await pending_approval(http, tid)
    feedback = "x" * 100_000

    via_approvals = await http.post(
        f"/approvals/{approval['approval_id']}", json={"decision": "reject", "feedback": feedback}
    )
    via_resume = await http.post(
        f"/threads/{tid}/runs",
        json={"assistant_id": "agent", "command": {"resume": {"decision": "reject", "feedback": feedback}}},
    )

    for refused in (via_approvals, via_resume):  # one validation path behind both
        assert refused.status_code == 400 and "MAX_FEEDBACK_CHARS" in refused.json()["detail"]
    assert (await pending_approval(http, tid))["status"] == "pending"


# --- limits only narrow --------------------------------------------------------------------------------


CALCULATIONS = " then ".join(f'call calculator with {{"expression": "{n}+{n}"}}' for n in range(1, 13))


async def test_a_run_cannot_raise_the_step_limit(alice, http):
    tid = (await alice.threads.create())["thread_id"]

    wider = await http.post(
        f"/threads/{tid}/runs/wait",
        json={"assistant_id": "agent", "input": user(CALCULATIONS), "context": {"max_steps": 1_000_000}},
    )

    assert wider.status_code == 422
    assert "ceiling of 8 (MAX_STEPS)" in wider.json()["detail"]
    assert await alice.runs.list(tid) == [], "no run was queued"


async def test_an_assistant_cannot_raise_the_step_limit_either(alice, http):
    wider = {"context": {"max_steps": 1_000_000}}
    created = await http.post("/assistants", json={"graph_id": "agent", **wider})
    narrow = (await http.post("/assistants", json={"graph_id": "agent", "context": {"max_steps": 2}})).json()
    patched = await http.patch(f"/assistants/{narrow['assistant_id']}", json=wider)

    for refused in (created, patched):
        assert refused.status_code == 422 and "ceiling of 8 (MAX_STEPS)" in refused.json()["detail"]


async def test_a_run_may_narrow_the_step_limit(alice):
    tid = (await alice.threads.create())["thread_id"]

    result = await alice.runs.wait(tid, "agent", input=user(CALCULATIONS), context={"max_steps": 2})

    assert [o["tool"] for o in result["observations"]] == ["calculator", "calculator"]
    assert "step limit of 2" in result["stop_reason"]
