"""The operators' API on the real server: the audit log (admins only) holds approval requests and decisions
with the call digest, and outlives the thread; a tool switched off on one replica is off on every replica
within a refresh interval, and on again the same way."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from handrail.logs import redact
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import EMAIL_REQUEST, user
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.waiting import eventually


@asynccontextmanager
async def as_user(base_url: str, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS[name]}) as http:
        yield http


async def paused(alice: Any) -> str:
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user(EMAIL_REQUEST))
    return tid


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/audit", None),
        ("GET", "/admin/tools", None),
        ("PUT", "/admin/tools/send_email", {"enabled": False, "reason": "mine now"}),
    ],
)
async def test_the_operators_endpoints_refuse_a_users_key_with_403(base_url, method, path, body):
    async with as_user(base_url, "alice") as http:
        refused = await http.request(method, path, json=body)
    async with as_user(base_url, "admin") as http:
        allowed = await http.get("/audit", params={"limit": 1})

    assert refused.status_code == 403
    assert "needs an admin API key" in refused.json()["detail"] and "alice" in refused.json()["detail"]
    assert allowed.status_code == 200 and isinstance(allowed.json(), list)


async def test_an_approval_request_and_its_decision_are_audited_with_the_call_digest(alice, base_url, pool):
    tid = await paused(alice)
    async with as_user(base_url, "alice") as http:
        (approval,) = (await http.get("/approvals", params={"thread_id": tid})).json()
        decided = await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "approve"})
    assert decided.status_code == 200
    await alice.runs.join(tid, decided.json()["run"]["run_id"])
    async with pool.connection() as conn:
        digests = await (
            await conn.execute(
                "SELECT args_digest, decided_digest FROM approvals WHERE approval_id = %s", (approval["approval_id"],)
            )
        ).fetchone()

    async with as_user(base_url, "admin") as http:
        first = await http.get("/audit", params={"thread_id": tid, "kind": "approval_requested", "limit": 1})
        decisions = (await http.get("/audit", params={"thread_id": tid, "kind": "approval_decided"})).json()
        everything = (await http.get("/audit", params={"thread_id": tid})).json()
        (request,) = first.json()
        (decision,) = decisions

        assert (request["actor"], request["tool"], request["outcome"]) == ("alice", "send_email", "pending")
        assert request["args"] == redact(approval["args"]), "arguments are stored redacted"
        assert "alice@example.com" not in str(request["args"])
        assert request["digest"] == digests["args_digest"] and request["digest"].startswith("sha256:")
        assert request["detail"]["approval_id"] == approval["approval_id"] and request["thread_id"] == tid
        assert (decision["actor"], decision["outcome"]) == ("alice", "approved")
        assert decision["digest"] == digests["decided_digest"] == request["digest"], "approved as requested"
        assert [e["id"] for e in everything] == sorted(e["id"] for e in everything), "oldest first"

        await alice.threads.delete(tid)
        after_delete = (await http.get("/audit", params={"thread_id": tid})).json()
    assert [e["id"] for e in after_delete] == [e["id"] for e in everything], "deleting a thread keeps its trail"


async def test_the_next_page_cursor_is_in_x_pagination_next(alice, base_url):
    tid = await paused(alice)
    async with as_user(base_url, "alice") as http:
        (approval,) = (await http.get("/approvals", params={"thread_id": tid})).json()
        no = {"decision": "reject", "feedback": "no"}
        rejected = await http.post(f"/approvals/{approval['approval_id']}", json=no)
    await alice.runs.join(tid, rejected.json()["run"]["run_id"])  # its trail is complete before it is read

    async with as_user(base_url, "admin") as http:
        whole = (await http.get("/audit", params={"thread_id": tid})).json()
        paged, after, pages = [], None, 0
        while True:
            params: dict[str, Any] = {"thread_id": tid, "limit": 1} | ({"after": after} if after else {})
            page = await http.get("/audit", params=params)
            paged += page.json()
            pages += 1
            after = page.headers.get("x-pagination-next")
            if after is None:
                break
    assert paged == whole and pages == len(whole), "one event a page, each once, none left out"
    kinds = [e["kind"] for e in whole]
    assert kinds.index("approval_requested") < kinds.index("approval_decided")


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 timestamp"),
        ({"thread_id": "not-a-thread"}, "thread_id must be a UUID"),
        ({"limit": 1001}, "limit"),
        ({"after": -1}, "after"),
    ],
)
async def test_a_malformed_audit_filter_is_a_422_saying_what_was_expected(base_url, params, says):
    async with as_user(base_url, "admin") as http:
        response = await http.get("/audit", params=params)
    assert response.status_code == 422 and says in response.json()["detail"]


async def test_switching_a_tool_off_is_listed_and_audited(base_url):
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    reason = f"incident {uuid.uuid4().hex[:6]}"
    async with as_user(base_url, "admin") as http:
        try:
            switched = await http.put("/admin/tools/send_email", json={"enabled": False, "reason": reason})
            tools = {t["name"]: t for t in (await http.get("/admin/tools")).json()}
        finally:
            restored = await http.put("/admin/tools/send_email", json={"enabled": True, "reason": "all clear"})
        unknown = await http.put("/admin/tools/teleport", json={"enabled": False})
        trail = (await http.get("/audit", params={"kind": "kill_switch", "tool": "send_email", "since": since})).json()

    assert switched.status_code == 200, switched.text
    assert switched.json() | {"changed_at": None} == {
        "name": "send_email",
        "risk": tools["send_email"]["risk"],
        "requires_approval": True,
        "enabled": False,
        "reason": reason,
        "changed_by": "admin",
        "changed_at": None,
    }
    assert tools["send_email"]["enabled"] is False and tools["send_email"]["reason"] == reason
    assert tools["calculator"]["enabled"] is True and tools["calculator"]["requires_approval"] is False
    assert restored.json()["enabled"] is True
    assert unknown.status_code == 404 and "GET /admin/tools" in unknown.json()["detail"]
    mine = [e for e in trail if (e["detail"] or {}).get("reason") in (reason, "all clear")]
    assert [(e["actor"], e["outcome"]) for e in mine[-2:]] == [("admin", "disabled"), ("admin", "enabled")]


@pytest.fixture(scope="module")
async def two_replicas() -> AsyncIterator[tuple[str, Any, Any]]:
    """(replica A's URL, A's app, B's app) on one fresh database, each re-reading the switches every 0.3 s."""
    with fresh_database("handrail_switches") as dsn:
        async with AsyncExitStack() as stack:
            a_settings = e2e_settings(dsn, workers=0, tool_switch_refresh_s=0.3)
            b_settings = e2e_settings(dsn, workers=0, tool_switch_refresh_s=0.3)
            a_app, b_app = create_app(a_settings), create_app(b_settings)
            a = await stack.enter_async_context(serving(a_app, port=a_settings.port))
            await stack.enter_async_context(serving(b_app, port=b_settings.port))
            yield a, a_app, b_app


async def test_a_tool_switched_off_on_one_replica_is_off_on_the_other_within_an_interval(two_replicas):
    a, a_app, b_app = two_replicas
    on_a, on_b = a_app.state.services.tool_switches, b_app.state.services.tool_switches
    assert await on_b.disabled("send_email") is None

    async with as_user(a, "admin") as http:
        off = await http.put("/admin/tools/send_email", json={"enabled": False, "reason": "smtp relay abused"})
    assert off.status_code == 200
    said = "send_email is switched off by an operator (reason: smtp relay abused); it was not run"
    assert await on_a.disabled("send_email") == said, "the replica that took the change applies it at once"

    async def refused_on_b() -> str | None:
        return await on_b.disabled("send_email")

    # Polled, not timed: the interval bounds it (0.3 s here), the deadline only stops a hung test.
    assert await eventually(refused_on_b, within_s=10) == said
    assert await on_b.disabled("calculator") is None

    async with as_user(a, "admin") as http:
        assert (await http.put("/admin/tools/send_email", json={"enabled": True})).status_code == 200

    async def allowed_on_b() -> bool:
        return await on_b.disabled("send_email") is None

    await eventually(allowed_on_b, within_s=10)
