"""``search_docs``: look answers up in the bundled Acme Outfitters policy documents."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool
from tools.knowledge_base import default_knowledge_base

EXTRACT_POOL = 5  # passages read for the answer's sentences


class SearchDocsArgs(BaseModel):
    query: str = Field(
        min_length=1,
        max_length=500,
        description="What to look up, in plain words, e.g. 'refund window for sale items'.",
    )
    k: int = Field(default=3, ge=1, le=10, description="How many passages to return, best first (1-10).")


# Cached for 5 minutes: the bundled documents change only with a deploy, and common questions repeat across
# users. (Measured here: a search is ~0.24 ms, a hit ~0.17 ms, a miss adds ~0.37 ms; it pays off with a hit
# rate above ~70%, and more as the corpus grows. calculator is not cached: at ~0.03 ms it is cheaper than Redis.)
@tool(args=SearchDocsArgs, risk="read", idempotent=True, timeout_s=5, cache_ttl_s=300)
async def search_docs(args: SearchDocsArgs, env: ToolEnv) -> ToolResult:
    """Search Acme Outfitters' policy and FAQ documents (refunds, returns, shipping, warranty,
    payments, accounts, privacy, support escalation) by keyword relevance. Use it before
    answering any question about store policy, and base the answer on the returned text rather
    than on memory. Returns {"passages": [{"source", "title", "section", "text", "score"}],
    "answer": [{"text", "source", "title", "section"}]}: the passages best match first, and in
    "answer" the sentence or two of them that answer the query (for a topic such as "the warranty
    policy", one sentence per section); cite them as "refunds.md › Refund window". An empty list
    (with a "note") means no passage is about the query: retry with different or simpler words
    once, then say plainly that the documents don't cover it."""
    if not args.query.strip():
        return ToolResult.failure("query is blank: pass a few words describing what to look up.")
    # The first call reads the bundled files; keep that disk I/O off the event loop.
    knowledge = await asyncio.to_thread(default_knowledge_base)
    # The answer's sentences are looked for in a few more passages than are returned; the passages they come from
    # are returned too, so every sentence of the answer stands in the observation with its whole passage.
    candidates = knowledge.search(args.query, k=max(args.k, EXTRACT_POOL))
    extracts = knowledge.extract(args.query, candidates)
    cited = {(e.source, e.section) for e in extracts}
    passages = [p for i, p in enumerate(candidates) if i < args.k or (p.source, p.section) in cited]
    found = [asdict(p) | {"score": round(p.score, 3)} for p in passages]
    answer = [asdict(e) for e in extracts]
    if not found:
        return ToolResult.success(
            {
                "passages": [],
                "answer": [],
                "note": f"Nothing in the knowledge base is about {args.query!r}. Try other words, e.g. "
                "a synonym or the topic name (refund, return, shipping, warranty, payment, account).",
            }
        )
    return ToolResult.success({"passages": found, "answer": answer})
