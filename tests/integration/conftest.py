"""Fixtures for the tests that need a real Redis (the one tests/support/servers.py chose): a client, and a
key prefix of their own that is cleaned up afterwards, so concurrent runs and earlier runs never see each
other's keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.servers import redis_url


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    client = aioredis.from_url(redis_url())
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: Any) -> AsyncIterator[str]:
    prefix = f"handrail-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)
