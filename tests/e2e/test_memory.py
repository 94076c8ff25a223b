"""Long-term memory through the real API: a preference kept in one thread shapes the plan in the user's next
thread and in no other user's; "forget", DELETE /memories and the admin view; a card number is never kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import user

FINANCE = "always send summaries to finance@acme.test"
SUMMARY_REQUEST = "email a summary of the refund policy"  # no address: only a memory can supply one


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Plain HTTP clients per user, for /memories and /approvals (the SDK has no client for them)."""
    clients = {name: httpx.AsyncClient(base_url=base_url, headers={"x-api-key": key}) for name, key in KEYS.items()}
    await _forget_all(clients)  # other tests in the session run as alice and bob: start and end with no memories
    yield clients
    await _forget_all(clients)
    for client in clients.values():
        await client.aclose()


async def _forget_all(clients: dict[str, httpx.AsyncClient]) -> None:
    for name in ("alice", "bob"):
        for kept in await memories(clients["admin"], user_id=name):
            response = await clients["admin"].delete(f"/memories/{kept['id']}", params={"user_id": name})
            assert response.status_code == 204, response.text


async def memories(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/memories", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["memories"])


async def ask(client: Any, text: str, **run: Any) -> tuple[str, dict[str, Any]]:
    """A new thread of `client`'s user asked `text`: its id and the run's output."""
    tid = (await client.threads.create())["thread_id"]
    return tid, await client.runs.wait(tid, "agent", input=user(text), **run)


async def pending_email(http: httpx.AsyncClient, thread_id: str) -> dict[str, Any] | None:
    found = (await http.get("/approvals", params={"status": "pending", "thread_id": thread_id})).json()
    assert len(found) <= 1, found
    return found[0] if found else None


async def test_a_preference_kept_in_one_thread_shapes_the_plan_in_the_users_next_thread_only(alice, bob, http):
    first, output = await ask(alice, f"Please remember that {FINANCE}")
    assert f"I will remember: {FINANCE}." in output["final_answer"]
    (kept,) = await memories(http["alice"])
    assert kept["text"] == FINANCE and kept["source_thread"] == first

    theirs, _ = await ask(alice, SUMMARY_REQUEST)
    approval = await pending_email(http["alice"], theirs)
    assert approval is not None and approval["args"]["to"] == "finance@acme.test"
    assert (await alice.threads.get(theirs))["status"] == "interrupted"

    others, output = await ask(bob, SUMMARY_REQUEST)
    assert await pending_email(http["bob"], others) is None
    assert (await bob.threads.get(others))["status"] == "idle"
    assert "finance@acme.test" not in output["final_answer"]
    assert await memories(http["bob"]) == []
    # The owner is the API key's user: a run naming another user in its context still recalls its own memories.
    posing, _ = await ask(bob, SUMMARY_REQUEST, context={"user_id": "alice"})
    assert await pending_email(http["bob"], posing) is None


async def test_forget_removes_the_memory_and_its_effect_on_plans(alice, http):
    await ask(alice, f"remember that {FINANCE}")
    assert [m["text"] for m in await memories(http["alice"])] == [FINANCE]

    _, output = await ask(alice, "forget that summaries go to finance")
    # The address came from the store, not from this thread's user: the output guardrail redacts it as usual.
    assert "I forgot: always send summaries to [email redacted]." in output["final_answer"]
    assert await memories(http["alice"]) == []
    after, _ = await ask(alice, SUMMARY_REQUEST)
    assert await pending_email(http["alice"], after) is None


async def test_deleting_a_memory_through_the_api_removes_it_and_only_its_owner_or_an_admin_may(alice, http):
    await ask(alice, f"remember that {FINANCE}")
    (kept,) = await memories(http["alice"])
    path = f"/memories/{kept['id']}"

    assert (await http["bob"].delete(path)).status_code == 404, "bob's own namespace has no such memory"
    refused = await http["bob"].get("/memories", params={"user_id": "alice"})
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert [m["id"] for m in await memories(http["admin"], user_id="alice")] == [kept["id"]]
    assert [m["id"] for m in await memories(http["alice"], user_id="alice")] == [kept["id"]]

    assert (await http["alice"].delete(path)).status_code == 204
    assert await memories(http["alice"]) == []
    gone = await http["alice"].delete(path)
    assert gone.status_code == 404 and "GET /memories" in gone.json()["detail"]
    after, _ = await ask(alice, SUMMARY_REQUEST)
    assert await pending_email(http["alice"], after) is None


async def test_the_store_api_shows_the_same_memories(alice, http):
    await ask(alice, f"remember that {FINANCE}")
    found = await http["alice"].post("/store/items/search", json={"namespace_prefix": ["memories"]})
    assert [(i["namespace"], i["value"]["text"]) for i in found.json()["items"]] == [(["memories"], FINANCE)]


async def test_a_card_number_is_never_remembered_by_the_agent_or_through_the_store(alice, http):
    _, output = await ask(alice, "remember that my card is 4111 1111 1111 1111")
    assert "payment card number, which is never kept in memory" in output["final_answer"]
    assert "4111" not in output["final_answer"]
    put = await http["alice"].put(
        "/store/items",
        json={"namespace": ["memories"], "key": "card", "value": {"text": "card 4111-1111-1111-1111"}},
    )
    assert put.status_code == 422 and "payment card number" in put.json()["detail"]
    assert await memories(http["alice"]) == []
