"""Small helpers for the SDK-driven tests."""

from __future__ import annotations

import json
from typing import Any

from tests.support.waiting import eventually

EMAIL_REQUEST = "email alice@example.com a summary of the refund policy"


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def probe_request(*steps: tuple[str, float]) -> dict[str, Any]:
    calls = " then ".join(f"call probe with {json.dumps({'label': label, 'seconds': s})}" for label, s in steps)
    return user(calls)


async def probe_rows(pool: Any, thread_id: str) -> list[tuple[str, str]]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT label, phase FROM probe_calls WHERE thread_id = %s ORDER BY id", (thread_id,))
        ).fetchall()
    return [(r["label"], r["phase"]) for r in rows]


async def wait_for_probe(pool: Any, thread_id: str, label: str, phase: str = "started") -> None:
    """Until the probe step has reached `phase` (watched in the database, not guessed with a sleep)."""

    async def reached() -> bool:
        return (label, phase) in await probe_rows(pool, thread_id)

    await eventually(reached)


async def wait_for_status(client: Any, thread_id: str, run_id: str, statuses: set[str]) -> str:
    async def status() -> str | None:
        current = (await client.runs.get(thread_id, run_id))["status"]
        return current if current in statuses else None

    return await eventually(status)


async def outbox_count(pool: Any, thread_id: str) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM outbox WHERE thread_id = %s", (thread_id,))
        ).fetchone()
    return int(row["n"])
