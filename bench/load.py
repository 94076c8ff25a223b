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


async def wait_alone(url: str, *, runs: int, warmup: int = 2) -> dict[str, Any]:
    """Sequential `runs.wait` on threads created beforehand: the API's cost over the in-process graph,
    which creates no thread either (the target names "sequential runs.wait")."""
    from langgraph_sdk import get_client

    client = get_client(url=url, timeout=120)
    threads = iter([(await client.threads.create())["thread_id"] for _ in range(runs + warmup)])

    async def one() -> bool:
        return succeeded(await client.runs.wait(next(threads), "agent", input=QUESTION))

    return await measure(one, runs=runs, concurrency=1, warmup=warmup)
