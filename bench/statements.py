"""`python -m bench.statements`: SQL statements per run, read from the Postgres server log.

Creates a scratch database with `log_statement = 'all'`, serves the app in this process on it, runs
BENCH_RUNS sequential `threads.create` + `runs.wait` of the two-tool request, and counts the log lines
of that database, grouped by what the statement does. Needs read access to the server log
(BENCH_POSTGRES_LOG, default: Debian's). Nothing is asserted; the figures are for comparing changes.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ADMIN = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LOG = Path(os.environ.get("BENCH_POSTGRES_LOG", "/var/log/postgresql/postgresql-15-main.log"))
QUESTION = {"messages": [{"role": "user", "content": "what is (2+3)*4 and what time is it in Tokyo?"}]}
_STATEMENT = re.compile(r"@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)")
KINDS = (
    ("connection check", r"^\s*$|^SELECT 1$"),
    ("checkpoint_writes", r"checkpoint_writes"),
    ("checkpoints / blobs", r"checkpoints|checkpoint_blobs"),
    ("run_events", r"run_events"),
    ("notify", r"pg_notify|NOTIFY"),
    ("runs", r"\bruns\b"),
    ("threads", r"\bthreads\b"),
    ("approvals", r"\bapprovals\b"),
    ("transactions", r"^(BEGIN|COMMIT|ROLLBACK)"),
)


def kind_of(sql: str) -> str:
    return next((name for name, pattern in KINDS if re.search(pattern, sql)), "other")


async def drive(dsn: str, runs: int) -> None:
    from langgraph_sdk import get_client

    from handrail.settings import Settings
    from server import create_app
    from tests.support.http import serving

    app = create_app(Settings(database_url=dsn, workers=2, log_level="WARNING"))
    async with serving(app) as url:
        client = get_client(url=url)
        await client.runs.wait((await client.threads.create())["thread_id"], "agent", input=QUESTION)  # warm up
        start = (await asyncio.to_thread(LOG.stat)).st_size
        for _ in range(runs):
            thread = await client.threads.create()
            await client.runs.wait(thread["thread_id"], "agent", input=QUESTION)
        await asyncio.sleep(1.0)  # background bookkeeping (heartbeats excluded below) settles
        report(dsn, start, runs)


def make_conninfo_db(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]  # type: ignore[return-value]


def report(dsn: str, start: int, runs: int) -> None:
    name = make_conninfo_db(dsn)
    with LOG.open("rb") as log:
        log.seek(start)
        lines = log.read().decode(errors="replace").splitlines()
    entries: list[str] = []
    for line in lines:  # a statement spanning lines continues on lines that start with a tab
        if line.startswith("\t") and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line)
    counts: collections.Counter[str] = collections.Counter()
    for entry in entries:
        match = _STATEMENT.search(entry)
        if match and match["db"] == name:
            counts[kind_of(match["sql"].strip())] += 1
    total = sum(counts.values())
    sys.stdout.write(f"SQL statements per run (threads.create + runs.wait, {runs} runs, 2 workers idle-polling)\n")
    for kind, n in counts.most_common():
        sys.stdout.write(f"  {kind:<22} {n / runs:7.1f}\n")
    sys.stdout.write(f"  {'total':<22} {total / runs:7.1f}\n")


async def main() -> None:
    if not os.access(LOG, os.R_OK):
        sys.stdout.write(f"SQL statements per run: skipped, cannot read the server log {LOG} (BENCH_POSTGRES_LOG)\n")
        return
    runs = int(os.environ.get("BENCH_RUNS", "20"))
    name = f"handrail_stmts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")  # every session from now on
    try:
        await drive(make_conninfo(ADMIN, dbname=name), runs)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
