"""Runs one validated tool call: enforces its timeout and turns every failure into a ToolResult."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tools.base import ToolEnv, ToolResult, ToolSpec

logger = logging.getLogger("handrail.tools")


async def run_tool(
    spec: ToolSpec[Any],
    args: BaseModel,
    env: ToolEnv,
    *,
    timeout_s: float,
    observe: Callable[[str, bool, float], None] | None = None,
) -> ToolResult:
    """Run the call within `min(timeout_s, spec.timeout_s)`; never raises (cancellation excepted).
    `observe` is told (tool, ok, seconds) once the call has a result."""
    limit = min(timeout_s, spec.timeout_s)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            result = await spec.fn(args, env)
    except TimeoutError:
        result = ToolResult.failure(f"{spec.name} timed out after {limit:g} s; try simpler arguments or later")
    except Exception as exc:  # a tool bug must not crash the run: the model reads the error instead
        logger.exception("tool.crashed", extra={"tool": spec.name})
        result = ToolResult.failure(f"{spec.name} failed: {type(exc).__name__}: {exc}")
    if not isinstance(result, ToolResult):
        result = ToolResult.failure(f"{spec.name} returned {type(result).__name__}, not a ToolResult")
    seconds = time.perf_counter() - started
    logger.info("tool.finished", extra={"tool": spec.name, "ok": result.ok, "ms": round(seconds * 1000, 1)})
    if observe is not None:
        observe(spec.name, result.ok, seconds)
    return result
