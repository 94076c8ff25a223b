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
from pathlib import Path
from typing import Any

import psycopg

from bench.common import QUESTION, admin_url, scratch_database

LOG = Path(os.environ.get("BENCH_POSTGRES_LOG", "/var/log/postgresql/postgresql-15-main.log"))
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


async def drive(dsn: str, runs: int) -> dict[str, Any]:
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
        return count(dsn, start, runs)


def make_conninfo_db(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]  # type: ignore[return-value]


def count(dsn: str, start: int, runs: int) -> dict[str, Any]:
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
    return {
        "runs": runs,
        "per_run": {kind: n / runs for kind, n in counts.most_common()},
        "total_per_run": sum(counts.values()) / runs,
    }


async def statements_per_run(admin: str, runs: int = 20) -> dict[str, Any]:
    """Statements per run by kind, or `{"skipped": why}` when the server log cannot be read."""
    if not os.access(LOG, os.R_OK):
        return {"skipped": f"cannot read the server log {LOG} (BENCH_POSTGRES_LOG)"}
    async with scratch_database(admin, "handrail_stmts") as dsn:
        name = make_conninfo_db(dsn)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")  # every session from now on
        return await drive(dsn, runs)


def render(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"SQL statements per run: skipped, {result['skipped']}\n"
    lines = [f"SQL statements per run (threads.create + runs.wait, {result['runs']} runs, 2 workers idle-polling)"]
    lines += [f"  {kind:<22} {n:7.1f}" for kind, n in result["per_run"].items()]
    lines.append(f"  {'total':<22} {result['total_per_run']:7.1f}")
    return "\n".join(lines) + "\n"


async def main() -> None:
    sys.stdout.write(render(await statements_per_run(admin_url(), int(os.environ.get("BENCH_RUNS", "20")))))


if __name__ == "__main__":
    asyncio.run(main())
