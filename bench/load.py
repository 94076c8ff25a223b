"""Drive a LangGraph-API server with the official SDK: `threads.create` + `runs.wait` of the two-tool request."""

from __future__ import annotations

from typing import Any

from bench.common import QUESTION, measure


def succeeded(result: Any) -> bool:
    """A `runs.wait` result is the final state; a failed run comes back as `{"__error__": ...}`."""
    return isinstance(result, dict) and "__error__" not in result and bool(result.get("messages"))


async def create_and_wait(url: str, *, runs: int, concurrency: int, warmup: int = 2) -> dict[str, Any]:
    from langgraph_sdk import get_client

    client = get_client(url=url, timeout=120)
    last_error: list[str] = []

    async def one() -> bool:
        thread = await client.threads.create()
        result = await client.runs.wait(thread["thread_id"], "agent", input=QUESTION)
        if not succeeded(result):
            last_error[:] = [repr(result)[:300]]
            return False
        return True

    figures = await measure(one, runs=runs, concurrency=concurrency, warmup=warmup)
    if last_error:
        figures["last_error"] = last_error[0]
    return figures
