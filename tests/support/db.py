"""A fresh Postgres database per test session, dropped at the end, on the server tests/support/servers.py chose."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.servers import postgres_admin_url


@contextmanager
def fresh_database(prefix: str = "handrail_test") -> Iterator[str]:
    """Create an empty database, yield its DSN, drop it (even if connections linger)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_dsn = postgres_admin_url()
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["dbname"])
