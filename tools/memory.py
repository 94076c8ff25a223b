"""Long-term memory: the facts and preferences a user asked the agent to keep, in LangGraph's store, per user.

One item per fact under `("users", <owner label>, "memories")`, keyed by a hash of the fact's words, valued
`{"text", "created_at", "source_thread"}`: the layout the /store API (handrail.memory) and Studio's Memory view
read, so a user sees and deletes exactly what the agent keeps. The `remember` and `forget` tools write it; the
planner reads a few memories through `recall`. The owner is always the run's authenticated user (`ToolEnv.user_id`,
`RunContext.user_id`), never anything from graph state, which clients can write.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypedDict

from langgraph.store.base import BaseStore, Item
from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool

logger = logging.getLogger("handrail.tools.memory")

OWNER_ROOT = "users"
MEMORIES = "memories"
RECALL_LIMIT = 5
# Without a vector index, recall ranks this many of the user's newest memories by shared words; forget reads up
# to FORGET_SCAN. Both are far above what a person asks an assistant to remember.
TEXT_MATCH_POOL = 200
FORGET_SCAN = 1000
FORGET_ALL = ("everything", "all", "*")

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a memory is about: shared, they would make every memory look relevant.
_STOP_WORDS = frozenset(
    "a an and are as at be by do does for from have i in is it its me my of on or our please that the this to us "
    "we what when where which who will with you your about always never should would can could".split()
)


class Memory(TypedDict):
    """One remembered fact as the planner and the API see it."""

    id: str
    text: str
    created_at: str


def owner_label(user_id: str) -> str:
    """The user id as one namespace label: `%`, `.`, `*` and NUL escaped, so it can never split into two labels,
    act as a wildcard, or collide with another user's label."""
    if not user_id:
        raise ValueError("an empty user id owns no memory; the run or API key must carry a user id")
    escapes = {"%": "%25", ".": "%2E", "*": "%2A", "\x00": "%00"}
    return "".join(escapes.get(ch, ch) for ch in user_id)


def user_namespace(user_id: str, labels: Sequence[str] = ()) -> tuple[str, ...]:
    """`("users", <owner label>, *labels)`: where everything a user keeps in the store lives."""
    return (OWNER_ROOT, owner_label(user_id), *labels)


def memory_key(text: str) -> str:
    """The same fact, however spaced or capitalised, is one memory: remembering it twice keeps one item."""
    return hashlib.sha256(" ".join(_WORD.findall(text.lower())).encode()).hexdigest()[:16]


def words(text: str) -> frozenset[str]:
    """The words `text` is about: lower case, stop words dropped, a plural's `s` taken off ("summaries" is
    "summary"), so that a request and a memory phrased a little differently still share them."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP_WORDS:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return frozenset(found)


def rank(query: str, memories: Iterable[Memory], *, limit: int = RECALL_LIMIT) -> list[Memory]:
    """The `limit` memories sharing most words with `query`, newest first among equals. A memory sharing none
    still fills a free place: with a handful of memories, a standing preference is worth showing the planner."""
    wanted = words(query)
    newest_first = sorted(memories, key=lambda m: m["created_at"], reverse=True)
    return sorted(newest_first, key=lambda m: len(wanted & words(m["text"])), reverse=True)[:limit]


def matching(about: str, memories: Iterable[Memory]) -> list[Memory]:
    """The memories `about` names: by id, all of them for "everything", else those holding at least half of its
    words (so "forget that summaries go to finance" finds "always send summaries to finance@acme.test")."""
    pool = list(memories)
    wanted = about.strip().lower()
    if wanted in FORGET_ALL:
        return pool
    by_id = [m for m in pool if m["id"] == wanted]
    if by_id:
        return by_id
    named = words(about)
    if not named:
        return []
    return [m for m in pool if 2 * len(named & words(m["text"])) >= len(named)]


async def recall(store: BaseStore | None, user_id: str, query: str, *, limit: int = RECALL_LIMIT) -> list[Memory]:
    """A few of the user's memories, most relevant to `query` first: by the store's vector index when it has one
    (an embedding model is configured), else by shared words among the newest TEXT_MATCH_POOL."""
    if store is None:
        return []
    namespace = user_namespace(user_id, (MEMORIES,))
    if getattr(store, "index_config", None) and query.strip():
        try:
            return _memories(await store.asearch(namespace, query=query, limit=limit))
        except Exception:  # the embedding model is a network call: without it, the text match still recalls
            logger.exception("memory.vector_search_failed", extra={"fallback": "text match"})
    return rank(query, _memories(await store.asearch(namespace, limit=TEXT_MATCH_POOL)), limit=limit)


def _memories(items: Iterable[Item]) -> list[Memory]:
    """Items shaped as memories; anything else a client put in the namespace through /store is left out."""
    return [
        Memory(
            id=item.key,
            text=item.value["text"],
            created_at=str(item.value.get("created_at") or item.created_at.isoformat()),
        )
        for item in items
        if isinstance(item.value.get("text"), str)
    ]


class RememberArgs(BaseModel):
    fact: str = Field(
        min_length=3,
        max_length=500,
        description="The fact or preference to keep, as one self-contained sentence in the user's words, "
        "e.g. 'always send summaries to finance@acme.test'.",
    )


class ForgetArgs(BaseModel):
    about: str = Field(
        min_length=1,
        max_length=500,
        description="What to forget: words of the memory (e.g. 'summaries go to finance'), a memory id, "
        "or 'everything'.",
    )


@tool(args=RememberArgs, risk="write", retains=True, max_calls_per_run=3)
async def remember(args: RememberArgs, env: ToolEnv) -> ToolResult:
    """Keep a durable fact or preference about the user for their future conversations. Use it only when
    the user asks you to remember something. The user can see and delete what is kept. Passwords, keys,
    card numbers and other secrets are never kept: such a call is refused. Returns the memory id."""
    if env.store is None:
        return ToolResult.failure("remember has no memory store here; tell the user the fact was not kept")
    namespace = user_namespace(env.user_id, (MEMORIES,))
    text = " ".join(args.fact.split()).rstrip(".")
    key = memory_key(text)
    # Keyed by content, so a replayed or retried call, or the same fact said twice, keeps one memory.
    if (existing := await env.store.aget(namespace, key)) is not None:
        return ToolResult.success({"memory_id": key, "text": existing.value.get("text", text), "already_kept": True})
    value = {"text": text, "created_at": datetime.now(UTC).isoformat(), "source_thread": env.thread_id}
    await env.store.aput(namespace, key, value, index=["text"])
    return ToolResult.success({"memory_id": key, "text": text, "already_kept": False})


@tool(args=ForgetArgs, risk="write", max_calls_per_run=3)
async def forget(args: ForgetArgs, env: ToolEnv) -> ToolResult:
    """Forget what you remember about something for this user: deletes the memories whose words match
    `about` (or the one with that id, or all of them for 'everything'). Use it when the user asks you to
    forget something. Returns what was forgotten (an empty list when nothing matched)."""
    if env.store is None:
        return ToolResult.failure("forget has no memory store here; tell the user nothing was forgotten")
    namespace = user_namespace(env.user_id, (MEMORIES,))
    found = matching(args.about, _memories(await env.store.asearch(namespace, limit=FORGET_SCAN)))
    for memory in found:
        await env.store.adelete(namespace, memory["id"])
    return ToolResult.success(
        {"forgotten": [{"memory_id": m["id"], "text": m["text"]} for m in found], "about": args.about}
    )
