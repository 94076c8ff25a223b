"""Every test reaches Postgres and Redis through tests/support/servers.py, so `make test` passes on a bare
machine (embedded servers) as on one with its own. An address written into a test misses the embedded server,
and not always loudly: a Redis bus given a dead URL falls back to Postgres, and the test's "redis" case passes
without Redis (tests/e2e/test_approval_feed.py did, until this check)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
MACHINE_SERVER = re.compile(r"(127\.0\.0\.1|localhost):(5432|6379)\b|[\"']redis-server[\"']")


def test_no_test_names_the_machines_postgres_or_redis():
    named = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != TESTS / "support" / "servers.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if MACHINE_SERVER.search(line)
    ]
    assert not named, (
        "use tests/support/servers.py (postgres_admin_url, redis_url, redis_server_binary):\n" + "\n".join(named)
    )
