"""Session-wide fixtures: one fresh, migrated database on a real Postgres, dropped at the end. Which Postgres
and Redis (the machine's, or embedded ones this session starts and stops) is tests/support/servers.py's
choice; the session's header and closing summary say what it chose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from handrail.db import make_pool
from handrail.migrate import migrate
from tests.support import servers
from tests.support.db import fresh_database


def pytest_report_header() -> list[str]:
    return [f"servers: {servers.postgres().describe()}; {servers.redis_backend().describe()}"]


def pytest_sessionfinish() -> None:
    # After the last session fixture's teardown (so every fresh database is already dropped).
    servers.stop_embedded()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for backend in (servers.postgres(), servers.redis_backend()):
        terminalreporter.write_line(f"servers: {backend.describe()}")


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
