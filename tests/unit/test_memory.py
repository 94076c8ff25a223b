"""Long-term memory without a server: recall's ranking, what `forget` matches, what is never kept, the tools on an
in-memory store, and the offline planner's rules for remembering, forgetting and using a memory."""

from __future__ import annotations

import pytest
from langgraph.store.memory import InMemoryStore

from guardrails import retention, tool_policy
from llm.offline_rules import plan_steps, write_answer
from tools.base import ToolEnv
from tools.memory import (
    ForgetArgs,
    Memory,
    RememberArgs,
    forget,
    matching,
    memory_key,
    rank,
    recall,
    remember,
    user_namespace,
)

TOOLS = {"search_docs", "calculator", "get_time", "create_ticket", "send_email", "remember", "forget"}
FINANCE = "always send summaries to finance@acme.test"
CARD = "my card is 4111 1111 1111 1111"


def memory(key: str, text: str, created_at: str) -> Memory:
    return Memory(id=key, text=text, created_at=created_at)


def env(store: InMemoryStore | None, user_id: str = "alice") -> ToolEnv:
    return ToolEnv(idempotency_key="t", user_id=user_id, thread_id="thread-1", store=store)


def test_recall_ranks_by_shared_words_then_newest_first() -> None:
    memories = [
        memory("old", "I prefer short answers", "2026-01-01T00:00:00+00:00"),
        memory("finance", FINANCE, "2026-01-02T00:00:00+00:00"),
        memory("new", "my team is in Lisbon", "2026-01-03T00:00:00+00:00"),
    ]
    ranked = rank("email a summary of the refund policy", memories)
    assert [m["id"] for m in ranked] == ["finance", "new", "old"]  # "summaries" is "summary"; then newest first
    assert [m["id"] for m in rank("anything", memories, limit=2)] == ["new", "finance"]


def test_forget_matches_by_id_by_most_of_the_words_or_everything() -> None:
    memories = [memory("a1", FINANCE, "1"), memory("b2", "I prefer short answers", "2")]
    assert [m["id"] for m in matching("summaries go to finance@acme.test", memories)] == ["a1"]
    assert [m["id"] for m in matching("b2", memories)] == ["b2"]
    assert [m["id"] for m in matching("everything", memories)] == ["a1", "b2"]
    assert matching("my address from the last order", memories) == []
    assert matching("the", memories) == []  # only stop words: names nothing


def test_the_same_fact_however_written_is_one_memory() -> None:
    assert memory_key("Always send summaries to finance@acme.test.") == memory_key(f"  always  send {FINANCE[12:]}")
    assert memory_key(FINANCE) != memory_key("always send summaries to ops@acme.test")


def test_card_numbers_ssns_and_secrets_are_never_kept_but_contact_details_are() -> None:
    assert retention.refusal(FINANCE) is None
    assert retention.refusal("call me on +44 20 7946 0958") is None
    assert "payment card" in (retention.refusal(CARD) or "")
    assert "social security" in (retention.refusal("my SSN is 123-45-6789") or "")
    assert "password" in (retention.refusal({"fact": "my password: hunter2-Secret"}) or "")


def test_the_tool_policy_refuses_a_memory_holding_a_card_number_or_kept_after_planted_instructions() -> None:
    def verdict(fact: str, retains: bool, tainted: bool = False) -> tool_policy.Verdict:
        return tool_policy.check(
            "remember",
            {"fact": fact},
            side_effects=True,
            allowed=None,
            switched_off=None,
            intended=["remember"],
            tainted=tainted,
            user_texts=(),
            retains=retains,
        )

    refused = verdict(CARD, retains=True)
    assert refused.guardrail == "tool_policy.sensitive_memory"
    assert "payment card number" in (refused.detail or "")
    assert not verdict(FINANCE, retains=True).blocked
    assert not verdict(CARD, retains=False).blocked  # only tools that keep their arguments are held to it
    # After planted instructions in a tool output, nothing is kept: they would steer every later plan.
    assert verdict(FINANCE, retains=True, tainted=True).guardrail == "tool_policy.tainted_memory"
    assert not verdict("I prefer short answers", retains=False, tainted=True).blocked


async def test_remember_keeps_one_memory_per_fact_for_its_user_only() -> None:
    store = InMemoryStore()
    first = await remember.fn(RememberArgs(fact=FINANCE + "."), env(store))
    again = await remember.fn(RememberArgs(fact=FINANCE), env(store))
    assert first.ok and first.data["already_kept"] is False and first.data["text"] == FINANCE
    assert again.ok and again.data == {**first.data, "already_kept": True}
    kept = await store.asearch(user_namespace("alice", ("memories",)))
    assert [(i.key, i.value["text"], i.value["source_thread"]) for i in kept] == [
        (first.data["memory_id"], FINANCE, "thread-1")
    ]
    assert await recall(store, "bob", "email a summary") == []
    assert [m["text"] for m in await recall(store, "alice", "email a summary")] == [FINANCE]


async def test_forget_deletes_only_the_matching_memories_of_its_user() -> None:
    store = InMemoryStore()
    for user in ("alice", "bob"):
        await remember.fn(RememberArgs(fact=FINANCE), env(store, user))
    await remember.fn(RememberArgs(fact="I prefer short answers"), env(store))
    result = await forget.fn(ForgetArgs(about="summaries go to finance"), env(store))
    assert result.ok and [m["text"] for m in result.data["forgotten"]] == [FINANCE]
    assert [m["text"] for m in await recall(store, "alice", "")] == ["I prefer short answers"]
    assert [m["text"] for m in await recall(store, "bob", "")] == [FINANCE]
    nothing = await forget.fn(ForgetArgs(about="my shoe size"), env(store))
    assert nothing.ok and nothing.data["forgotten"] == []


async def test_the_tools_say_so_when_there_is_no_store() -> None:
    result = await remember.fn(RememberArgs(fact=FINANCE), env(None))
    assert not result.ok and "not kept" in (result.error or "")
    assert await recall(None, "alice", "anything") == []


async def test_recall_uses_the_stores_vector_index_when_it_has_one() -> None:
    def embed(texts: list[str]) -> list[list[float]]:  # two "topics": mail and travel
        return [[float("mail" in t or "summar" in t), float("lisbon" in t.lower() or "trip" in t)] for t in texts]

    store = InMemoryStore(index={"dims": 2, "embed": embed, "fields": ["text"]})
    await remember.fn(RememberArgs(fact="my team is in Lisbon"), env(store))
    await remember.fn(RememberArgs(fact=FINANCE), env(store))
    # No shared word with either memory, and the newest is the other one: only the embeddings find it.
    recalled = await recall(store, "alice", "plan my trip", limit=1)
    assert [m["text"] for m in recalled] == ["my team is in Lisbon"]


def test_remember_and_forget_requests_plan_only_that() -> None:
    assert plan_steps(f"Please remember that {FINANCE}.", TOOLS, [], None) == [
        {"tool": "remember", "args": {"fact": FINANCE}, "purpose": "keep what the user asked to remember"}
    ]
    # An address and "send" in the fact: still only kept, nothing is sent.
    assert [s["tool"] for s in plan_steps(f"remember: {FINANCE}", TOOLS, [], None)] == ["remember"]
    (step,) = plan_steps("forget that summaries go to finance", TOOLS, [], None)
    assert (step["tool"], step["args"]) == ("forget", {"about": "summaries go to finance"})
    assert [s["args"] for s in plan_steps("forget everything", TOOLS, [], None)] == [{"about": "everything"}]


@pytest.mark.parametrize(
    "request_text",
    [
        "Forget the refund — how many days do I have to exchange an item?",
        "Forget it, just tell me the time in Tokyo.",
        "Forget that, just tell me the time",
        "Remember the instructions I gave you yesterday? Please apply them to this order too.",
        "I can't remember the refund policy",
    ],
)
def test_forget_and_remember_as_idioms_plan_no_memory_tool(request_text: str) -> None:
    assert not {s["tool"] for s in plan_steps(request_text, TOOLS, [], None)} & {"remember", "forget"}


def test_a_remembered_address_is_used_only_when_the_request_gives_none() -> None:
    request = "email a summary of the refund policy"
    assert [s["tool"] for s in plan_steps(request, TOOLS, [], None)] == ["search_docs"]
    with_memory = plan_steps(request, TOOLS, [], None, memories=["I prefer short answers", FINANCE])
    assert [(s["tool"], s["args"].get("to")) for s in with_memory] == [
        ("search_docs", None),
        ("send_email", "finance@acme.test"),
    ]
    given = plan_steps("email bob@acme.test a summary of the refund policy", TOOLS, [], None, memories=[FINANCE])
    assert given[-1]["args"]["to"] == "bob@acme.test"
    # An address in a memory that is not about where messages go is no recipient.
    assert [s["tool"] for s in plan_steps(request, TOOLS, [], None, memories=["my login is a@b.test"])] == [
        "search_docs"
    ]


def test_the_answer_says_what_was_kept_or_forgotten() -> None:
    observations = [
        {"tool": "remember", "status": "done", "ok": True, "data": {"text": FINANCE}},
        {"tool": "forget", "status": "done", "ok": True, "data": {"forgotten": [], "about": "shoe size"}},
    ]
    answer = write_answer({"observations": observations})
    assert f"I will remember: {FINANCE}." in answer
    assert "I had nothing remembered about 'shoe size'." in answer
