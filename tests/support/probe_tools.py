"""A test-only tool, loaded through TOOL_MODULES: it records each start and finish in Postgres, so a
test can tell exactly which steps ran, how often, and can catch a run in the middle of one."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool
from tools.resources import resources_of

PROBE_TABLE = """
CREATE TABLE IF NOT EXISTS probe_calls (
    id BIGSERIAL PRIMARY KEY, thread_id TEXT, label TEXT NOT NULL, phase TEXT NOT NULL, pid INT,
    at TIMESTAMPTZ NOT NULL DEFAULT now())
"""


class ProbeArgs(BaseModel):
    label: str = Field(min_length=1, max_length=50)
    seconds: float = Field(0, ge=0, le=120)


# risk="write": the rows it writes are read by tests in order, so consecutive probes run one after the
# other (a read-only step may run alongside the next one: nodes/run_step.py).
@tool(args=ProbeArgs, risk="write", timeout_s=120, max_calls_per_run=10)
async def probe(args: ProbeArgs, env: ToolEnv) -> ToolResult:
    """Test probe: records that it started, waits `seconds`, records that it finished."""
    return await _probe(args, env)


@tool(name="read_probe", args=ProbeArgs, timeout_s=120, max_calls_per_run=10)
async def read_probe(args: ProbeArgs, env: ToolEnv) -> ToolResult:
    """Test probe declared read-only, so independent calls of it run at the same time: records that it
    started, waits `seconds`, records that it finished."""
    return await _probe(args, env)


async def _probe(args: ProbeArgs, env: ToolEnv) -> ToolResult:
    import os

    res = resources_of(env)
    assert res is not None
    async with res.pool.connection() as conn:
        await conn.execute(PROBE_TABLE)
        await conn.execute(
            "INSERT INTO probe_calls (thread_id, label, phase, pid) VALUES (%s, %s, 'started', %s)",
            (env.thread_id, args.label, os.getpid()),
        )
    await asyncio.sleep(args.seconds)
    async with res.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO probe_calls (thread_id, label, phase, pid) VALUES (%s, %s, 'finished', %s)",
            (env.thread_id, args.label, os.getpid()),
        )
    return ToolResult.success({"label": args.label})
