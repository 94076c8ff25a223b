"""Runs one agent step in its own process: `python -m tests.support.child_agent DSN THREAD start|approve`.

Used to show that a paused thread survives its process: nothing is shared with the parent but Postgres.
"""

from __future__ import annotations

import asyncio
import json
import sys

from langgraph.types import Command

from handrail.db import make_pool
from tests.support.agents import make_graph, user


async def main(dsn: str, thread_id: str, action: str) -> dict[str, object]:
    pool = make_pool(dsn, min_size=1, max_size=2)
    await pool.open(wait=True)
    try:
        graph = make_graph(pool)
        config = {"configurable": {"thread_id": thread_id}}
        if action == "start":
            payload = user("email alice@example.com a summary of the refund policy")
        else:
            payload = Command(resume={"decision": action})
        result = await graph.ainvoke(payload, config)
        interrupts = [i.value for i in result.get("__interrupt__", [])]
        return {"interrupts": interrupts, "final_answer": result.get("final_answer")}
    finally:
        await pool.close()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(main(*sys.argv[1:4]))) + "\n")
