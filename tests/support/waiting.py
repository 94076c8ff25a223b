"""Waiting on a condition that lives outside this process (a row, another server's state)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], *, within_s: float = 30, every_s: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail the test after `within_s`."""
    async with asyncio.timeout(within_s):
        # The condition is in Postgres or another process: there is no local event to await.
        while not (value := await check()):  # noqa: ASYNC110
            await asyncio.sleep(every_s)
    return value
