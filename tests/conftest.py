"""Session-wide fixtures: one fresh, migrated database on the real Postgres, dropped at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from handrail.db import make_pool
from handrail.migrate import migrate
from tests.support.db import fresh_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[object]:
    pool = make_pool(database_url, min_size=1, max_size=10)
    await pool.open(wait=True)
    await migrate(pool)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def thread_config() -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": f"t-{uuid.uuid4()}"}}
