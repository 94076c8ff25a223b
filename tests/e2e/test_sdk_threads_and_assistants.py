"""What Studio and scripts use besides runs: the assistant's graph and schemas, thread search,
count, metadata, copy, state edits and delete — through the real SDK."""

from __future__ import annotations

import uuid

import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.e2e.helpers import user
from tests.support.waiting import eventually


async def test_the_system_assistant_exposes_its_graph_and_schemas(alice):
    (assistant,) = await alice.assistants.search(metadata={"created_by": "system"})
    graph = await alice.assistants.get_graph(assistant["assistant_id"])
    schemas = await alice.assistants.get_schemas(assistant["assistant_id"])

    assert {n["id"] for n in graph["nodes"]} >= {"plan", "execute", "approve", "reflect", "synthesize"}
    assert {"source": "approve", "target": "execute"} in [
        {k: e[k] for k in ("source", "target")} for e in graph["edges"]
    ]
    assert "messages" in schemas["input_schema"]["properties"]
    assert "max_steps" in schemas["context_schema"]["properties"]
    assert "observations" in schemas["state_schema"]["properties"]
    assert await alice.assistants.get_subgraphs(assistant["assistant_id"]) == {}


async def test_threads_are_found_by_metadata_counted_patched_and_deleted(alice):
    tag = uuid.uuid4().hex
    created = [await alice.threads.create(metadata={"tag": tag, "n": i}) for i in range(3)]

    found = await alice.threads.search(metadata={"tag": tag}, limit=2)
    assert len(found) == 2
    assert await alice.threads.count(metadata={"tag": tag}) == 3
    patched = await alice.threads.update(created[0]["thread_id"], metadata={"owner": "ops"})
    assert patched["metadata"] == {"tag": tag, "n": 0, "owner": "ops"}
    await alice.threads.delete(created[0]["thread_id"])
    with pytest.raises(NotFoundError):
        await alice.threads.get(created[0]["thread_id"])
    assert await alice.threads.count(metadata={"tag": tag}) == 2


async def test_creating_a_thread_twice_conflicts_unless_told_to_reuse_it(alice):
    tid = str(uuid.uuid4())
    await alice.threads.create(thread_id=tid)
    with pytest.raises(ConflictError):
        await alice.threads.create(thread_id=tid)
    assert (await alice.threads.create(thread_id=tid, if_exists="do_nothing"))["thread_id"] == tid


async def test_a_copied_thread_has_the_same_state_and_its_own_future(alice):
    source = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(source, "agent", input=user("what is 6*7"))
    copy = await alice.threads.copy(source)

    assert copy["thread_id"] != source
    original, copied = await alice.threads.get_state(source), await alice.threads.get_state(copy["thread_id"])
    assert copied["values"]["final_answer"] == original["values"]["final_answer"]
    await alice.runs.wait(copy["thread_id"], "agent", input=user("what is 1+1"))
    assert "6*7 = 42" in (await alice.threads.get_state(source))["values"]["final_answer"]


async def test_state_can_be_edited_as_a_node(alice):
    tid = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(tid, "agent", input=user("what is 6*7"))
    update = await alice.threads.update_state(tid, {"final_answer": "edited by a person"}, as_node="synthesize")

    assert update["checkpoint"]["checkpoint_id"]
    state = await alice.threads.get_state(tid)
    assert state["values"]["final_answer"] == "edited by a person"
    assert state["checkpoint"]["checkpoint_id"] == update["checkpoint"]["checkpoint_id"]


async def test_store_items_round_trip_and_expire_after_their_ttl(alice, bob):
    namespace = ["prefs", uuid.uuid4().hex[:8]]
    await alice.store.put_item(namespace, "tone", {"value": "formal"})
    await alice.store.put_item(namespace, "draft", {"value": "temporary"}, ttl=0.01)  # minutes: 0.6 s

    assert (await alice.store.get_item(namespace, "tone"))["value"] == {"value": "formal"}
    assert await bob.store.get_item(namespace, "tone") is None, "store items belong to their user"

    async def expired() -> bool:
        return await alice.store.get_item(namespace, "draft") is None

    assert await eventually(expired, within_s=10)
    assert (await alice.store.get_item(namespace, "tone")) is not None
