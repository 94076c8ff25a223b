"""Assistant versions as the LangGraph Server API has them, through the real SDK: every update is a new
version, versions are listed newest first, and switching back makes runs use that version's context."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import user

ARITHMETIC = "what is 6*7"


async def test_every_update_is_a_version_listed_newest_first(alice):
    tag = uuid.uuid4().hex
    created = await alice.assistants.create("agent", name="v1", metadata={"tag": tag, "stage": "draft"})
    aid = created["assistant_id"]
    await alice.assistants.update(aid, name="v2", metadata={"stage": "review"})
    third = await alice.assistants.update(aid, name="v3", context={"max_steps": 3})

    assert (created["version"], third["version"]) == (1, 3)
    assert third["metadata"] == {"tag": tag, "stage": "review"}, "metadata is merged, as the LangGraph server does"
    versions = await alice.assistants.get_versions(aid)
    assert [(v["version"], v["name"]) for v in versions] == [(3, "v3"), (2, "v2"), (1, "v1")]
    assert set(versions[0]) == {
        "assistant_id",
        "version",
        "graph_id",
        "config",
        "context",
        "metadata",
        "created_at",
        "name",
        "description",
    }
    assert [v["version"] for v in await alice.assistants.get_versions(aid, limit=1, offset=1)] == [2]
    drafts = await alice.assistants.get_versions(aid, metadata={"stage": "draft"})
    assert [v["version"] for v in drafts] == [1]
    with pytest.raises(NotFoundError):  # as the LangGraph server answers when nothing matches
        await alice.assistants.get_versions(aid, metadata={"stage": "published"})


async def test_a_run_uses_the_context_of_the_version_switched_back_to(alice):
    assistant = await alice.assistants.create("agent", context={"tools_enabled": ["calculator", "get_time"]})
    aid = assistant["assistant_id"]
    await alice.assistants.update(aid, context={"tools_enabled": ["get_time"]})
    narrowed = await alice.runs.wait(None, aid, input=user(ARITHMETIC))
    assert "calculator" not in [o["tool"] for o in narrowed["observations"]]

    switched = await alice.assistants.set_latest(aid, 1)

    assert switched["version"] == 1
    assert switched["context"] == {"tools_enabled": ["calculator", "get_time"]}
    assert (await alice.assistants.get(aid))["version"] == 1
    output = await alice.runs.wait(None, aid, input=user(ARITHMETIC))
    assert "calculator" in [o["tool"] for o in output["observations"]]
    assert "42" in output["final_answer"]
    # A later update starts from the active version and takes the next free number.
    later = await alice.assistants.update(aid, name="after the switch")
    assert (later["version"], later["context"]) == (3, {"tools_enabled": ["calculator", "get_time"]})


async def test_unknown_versions_and_other_users_assistants_are_not_found(alice, bob):
    aid = (await alice.assistants.create("agent"))["assistant_id"]

    with pytest.raises(NotFoundError):
        await alice.assistants.set_latest(aid, 7)
    with pytest.raises(NotFoundError):
        await alice.assistants.get_versions(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await bob.assistants.get_versions(aid)
    with pytest.raises(NotFoundError):
        await bob.assistants.set_latest(aid, 1)
    with pytest.raises(UnprocessableEntityError):
        await alice.assistants.get_versions("agent")
    assert (await alice.assistants.get(aid))["version"] == 1


async def test_bad_bodies_are_refused_with_the_reason(base_url, alice):
    aid = (await alice.assistants.create("agent"))["assistant_id"]
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        no_version = await http.post(f"/assistants/{aid}/latest", json={})
        text_version = await http.post(f"/assistants/{aid}/latest", json={"version": "first"})
        bad_limit = await http.post(f"/assistants/{aid}/versions", json={"limit": 0})
        missing = await http.post(f"/assistants/{aid}/latest", json={"version": 9})

    assert [r.status_code for r in (no_version, text_version, bad_limit)] == [422, 422, 422]
    assert missing.status_code == 404 and "version 9" in missing.json()["detail"]
