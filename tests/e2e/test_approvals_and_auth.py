"""Approvals over HTTP with signed webhooks; per-user isolation; clear 4xx bodies for bad input."""

from __future__ import annotations

import json

import httpx
import pytest
from langgraph_sdk.errors import AuthenticationError, NotFoundError

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import EMAIL_REQUEST, outbox_count, user
from tests.support.waiting import eventually


async def paused(client) -> str:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))
    return tid


async def approval_of(base_url: str, key: str, thread_id: str) -> dict:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": key}) as http:
        found = (await http.get("/approvals", params={"status": "pending", "thread_id": thread_id})).json()
    assert len(found) == 1, found
    return found[0]


async def test_a_pause_writes_an_approval_and_posts_a_signed_webhook(alice, base_url, approval_receiver):
    tid = await paused(alice)
    approval = await approval_of(base_url, KEYS["alice"], tid)

    assert approval["tool"] == "send_email" and approval["status"] == "pending"
    assert approval["preview"].startswith("send email to alice@example.com")
    assert approval["requested_by"] == "alice" and approval["expires_at"]

    def delivered() -> list:
        return [
            r
            for r in approval_receiver.requests
            if r.headers.get("x-handrail-event") == "approval"  # handoffs go to the same receiver
            and json.loads(r.body)["approval"]["approval_id"] == approval["approval_id"]
        ]

    async def arrived() -> list:
        return delivered()

    (delivery,) = await eventually(arrived, within_s=10)
    assert delivery.verified is True, "the receiver verified the HMAC signature with the shared secret"
    assert delivery.headers["x-handrail-event"] == "approval"


async def test_an_approval_decision_resumes_the_run_and_a_second_decision_is_409(alice, base_url, pool):
    tid = await paused(alice)
    approval = await approval_of(base_url, KEYS["alice"], tid)
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        first = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
        second = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "reject"})

    assert first.status_code == 200 and first.json()["status"] == "approved"
    assert second.status_code == 409 and "already decided (approved)" in second.json()["detail"]
    result = await alice.runs.join(tid, first.json()["run"]["run_id"])
    assert "alice@example.com" in result["final_answer"]
    assert await outbox_count(pool, tid) == 1


async def test_a_decision_through_the_runs_api_closes_the_approval(alice, base_url):
    tid = await paused(alice)
    approval = await approval_of(base_url, KEYS["alice"], tid)
    await alice.runs.wait(tid, "agent", command={"resume": {"decision": "reject", "feedback": "no"}})

    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        after = (await http.get(f"/approvals/{approval['approval_id']}")).json()
        again = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
    assert after["status"] == "rejected" and after["decision"]["feedback"] == "no"
    assert again.status_code == 409


async def test_another_users_thread_run_and_approval_answer_404(alice, bob, admin, base_url):
    tid = await paused(alice)
    runs = await alice.runs.list(tid)
    approval = await approval_of(base_url, KEYS["alice"], tid)

    with pytest.raises(NotFoundError):
        await bob.threads.get(tid)
    with pytest.raises(NotFoundError):
        await bob.runs.get(tid, runs[0]["run_id"])
    with pytest.raises(NotFoundError):
        await bob.threads.get_state(tid)
    with pytest.raises(NotFoundError):
        await bob.runs.create(tid, "agent", command={"resume": {"decision": "approve"}})
    with pytest.raises(NotFoundError):  # a plain (enqueued) run is refused as well, and leaves no trace
        await bob.runs.create(tid, "agent", input={"messages": [{"role": "user", "content": "what is 1+1"}]})
    assert [r["run_id"] for r in await alice.runs.list(tid)] == [r["run_id"] for r in runs]
    assert (await alice.threads.get(tid))["status"] == "interrupted"
    assert tid not in [t["thread_id"] for t in await bob.threads.search(limit=100)]
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["bob"]}) as http:
        assert (
            await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
        ).status_code == 404
    assert (await admin.threads.get(tid))["thread_id"] == tid, "an admin key sees every user's threads"


async def test_requests_without_a_valid_key_are_refused(base_url):
    from langgraph_sdk import get_client

    with pytest.raises(AuthenticationError, match="missing API key"):
        await get_client(url=base_url, api_key=None).threads.search()
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        await get_client(url=base_url, api_key="wrong").threads.search()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("post", "/threads/{tid}/runs", {"assistant_id": "agent", "stream_mode": "telepathy"}, 422, "stream_mode"),
        ("post", "/threads/{tid}/runs", {"input": {}}, 422, "assistant_id"),
        ("post", "/threads/{tid}/runs", {"assistant_id": "nope"}, 422, "must be a UUID"),
        ("post", "/threads/00000000-0000-0000-0000-000000000000/runs", {"assistant_id": "agent"}, 404, "not found"),
        ("get", "/threads/not-a-uuid", None, 404, "not found"),
        ("post", "/threads/{tid}/runs", {"assistant_id": "agent", "webhook": "ftp://x"}, 422, "webhook"),
        ("post", "/approvals/apr_missing", {"decision": "approve"}, 404, "not found"),
        ("post", "/approvals/apr_missing", {"decision": "sure"}, 422, "decision"),
    ],
)
async def test_bad_input_gets_a_4xx_with_a_json_detail(alice, base_url, method, path, body, status, says):
    tid = (await alice.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        response = await http.request(method.upper(), path.format(tid=tid), json=body)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]


async def test_a_malformed_json_body_is_a_422_not_a_500(alice, base_url):
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        response = await http.post("/threads", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


async def test_an_approval_notification_lost_mid_flight_is_sent_again(alice, base_url, approval_receiver, pool):
    tid = await paused(alice)
    approval = await approval_of(base_url, KEYS["alice"], tid)

    def deliveries() -> list:
        return [
            r
            for r in approval_receiver.requests
            if r.headers.get("x-handrail-event") == "approval"  # handoffs go to the same receiver
            and json.loads(r.body)["approval"]["approval_id"] == approval["approval_id"]
        ]

    async def notified() -> bool:
        async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
            return (await http.get(f"/approvals/{approval['approval_id']}")).json()["notified_at"] is not None

    await eventually(notified, within_s=10)
    # As if the process had stopped mid-delivery an hour ago: attempted, never confirmed.
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE approvals SET notified_at = NULL, notify_attempted_at = now() - interval '1 hour' "
            "WHERE approval_id = %s",
            (approval["approval_id"],),
        )

    async def resent() -> bool:
        return len(deliveries()) >= 2

    await eventually(resent, within_s=20)
    await eventually(notified, within_s=10)
    assert all(d.verified for d in deliveries())
