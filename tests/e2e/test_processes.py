"""`python -m handrail serve` with PROCESSES=2: two server processes share the port and the database. Runs,
streams and approval pauses work whichever process a request or a run lands on; SIGTERM stops the parent
and every child, handing in-flight runs back to the queue; a child SIGKILLed mid-run is replaced and its run
finishes elsewhere; children do not outlive a SIGKILLed parent; without DATABASE_URL one embedded Postgres
serves them all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from langgraph_sdk import get_client

from tests.e2e.conftest import KEYS
from tests.e2e.helpers import EMAIL_REQUEST, probe_request, user
from tests.support.db import fresh_database
from tests.support.http import free_port
from tests.support.probe_tools import PROBE_TABLE
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 2
pytestmark = pytest.mark.slow


@dataclass
class Server:
    process: asyncio.subprocess.Process
    url: str
    dsn: str

    def client(self) -> Any:
        return get_client(url=self.url, api_key=KEYS["alice"])

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    async def worker_pids(self) -> set[int]:
        """Pids of the processes whose in-process worker is registered (worker id `host:pid`)."""
        rows = await asyncio.to_thread(self.query, "SELECT worker_id FROM workers")
        return {int(r[0].rsplit(":", 1)[1]) for r in rows}

    def children(self) -> set[int]:
        """The parent's live server processes (not multiprocessing's resource tracker)."""
        found = set()
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                    found.add(child.pid)
        return found


def dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def server_env(port: int, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WEB_CONCURRENCY", "PROCESSES")}
    return (
        env
        | {
            "PORT": str(port),
            "PROCESSES": "2",
            "WORKERS": "1",  # one run at a time per process: two runs in flight at once must be on both
            "HEARTBEAT_S": "0.3",
            "WORKER_POLL_S": "0.2",
            "SHUTDOWN_GRACE_S": str(GRACE_S),
            "TOOL_MODULES": json.dumps(["tests.support.probe_tools"]),
            "API_KEYS": f"{KEYS['alice']}:alice",
            "LOG_LEVEL": "WARNING",
        }
        | overrides
    )


@contextlib.asynccontextmanager
async def serving(dsn: str, *, embedded_in: Path | None = None, **overrides: str) -> AsyncIterator[Server]:
    """`python -m handrail serve` with two processes on `dsn` (or, `embedded_in` a DATA_DIR, without
    DATABASE_URL), until both have registered their worker; killed (the whole process group) afterwards if the
    test left it running."""
    port = free_port()
    database = {"DATA_DIR": str(embedded_in)} if embedded_in else {"DATABASE_URL": dsn}
    env = server_env(port, **(database | overrides))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env, start_new_session=True
    )
    server = Server(process, f"http://127.0.0.1:{port}", dsn)
    try:

        async def up() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"serve exited with {process.returncode} before it was ready")
            with contextlib.suppress(psycopg.Error):
                if len(await server.worker_pids()) < 2:
                    return False
            with contextlib.suppress(httpx.TransportError):
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"{server.url}/ok")).status_code == 200
            return False

        await eventually(up, within_s=60)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


@contextlib.contextmanager
def queue_of_its_own() -> Iterator[str]:
    """A fresh database: no other server's workers may claim (or take over) this server's runs."""
    with fresh_database("handrail_processes") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(PROBE_TABLE)
        yield dsn


@pytest.fixture
def processes_db() -> Iterator[str]:
    with queue_of_its_own() as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def two_processes() -> AsyncIterator[Server]:
    with queue_of_its_own() as dsn:
        async with serving(dsn) as server:
            yield server


async def worker_ids_of(server: Server, thread_ids: list[str]) -> set[str]:
    rows = await asyncio.to_thread(
        server.query, "SELECT DISTINCT worker_id FROM runs WHERE thread_id::text = ANY(%s)", thread_ids
    )
    return {r[0] for r in rows}


async def test_concurrent_runs_are_answered_and_executed_by_both_processes(two_processes):
    client = two_processes.client()

    async def ask(i: int) -> tuple[str, dict[str, Any]]:
        tid = (await client.threads.create())["thread_id"]
        return tid, await client.runs.wait(tid, "agent", input=user(f"what is {i}*7"))

    answered = await asyncio.gather(*(ask(i) for i in range(12)))

    assert [result["final_answer"] for _, result in answered] == [f"{i}*7 = {i * 7}" for i in range(12)]
    ran_on = await worker_ids_of(two_processes, [tid for tid, _ in answered])
    assert len(ran_on) == 2, f"both processes executed runs, not only {ran_on}"
    assert {int(w.rsplit(":", 1)[1]) for w in ran_on} == two_processes.children()


async def test_metrics_scraped_from_either_process_count_the_runs_of_both(two_processes):
    async def successes() -> float:
        async with httpx.AsyncClient(base_url=two_processes.url) as http:  # a new connection: any process
            text = (await http.get("/metrics")).text
        line = next((x for x in text.splitlines() if x.startswith('handrail_runs_total{outcome="success"}')), None)
        return float(line.split()[-1]) if line else 0.0

    before = {await successes() for _ in range(6)}
    assert len(before) == 1, f"the processes disagree: {before}"
    client = two_processes.client()

    async def ask(i: int) -> str:
        tid = (await client.threads.create())["thread_id"]
        await client.runs.wait(tid, "agent", input=user(f"what is {i}+1"))
        return tid

    threads = await asyncio.gather(*(ask(i) for i in range(12)))
    assert len(await worker_ids_of(two_processes, list(threads))) == 2, "the runs did not land on both processes"
    assert {await successes() for _ in range(8)} == {before.pop() + 12}


async def test_streamed_approval_pauses_resume_whichever_process_runs_them(two_processes):
    client = two_processes.client()

    async def pause_then_approve() -> tuple[str, list[Any], dict[str, Any]]:
        tid = (await client.threads.create())["thread_id"]
        parts = [p async for p in client.runs.stream(tid, "agent", input=user(EMAIL_REQUEST), stream_mode="updates")]
        assert (await client.threads.get(tid))["status"] == "interrupted"
        result = await client.runs.wait(tid, "agent", command={"resume": {"decision": "approve"}})
        return tid, parts, result

    flows = await asyncio.gather(*(pause_then_approve() for _ in range(6)))

    for tid, parts, result in flows:
        updates = [p.data for p in parts if p.event == "updates"]
        assert [next(iter(u)) for u in updates[:2]] == ["plan", "execute"]
        assert updates[-1]["__interrupt__"][0]["value"]["tool"] == "send_email"
        assert "alice@example.com" in result["final_answer"]
        assert (await client.threads.get(tid))["status"] == "idle"
    tids = [tid for tid, _, _ in flows]
    sent = await asyncio.to_thread(two_processes.query, "SELECT count(*) FROM outbox WHERE thread_id = ANY(%s)", tids)
    assert sent[0][0] == 6, "each approved email was sent exactly once"
    assert len(await worker_ids_of(two_processes, tids)) == 2, "pauses and resumes ran on both processes"


async def test_sigterm_stops_the_parent_and_its_children_and_hands_back_in_flight_runs(processes_db):
    async with serving(processes_db) as server:
        client = server.client()
        children = server.children()
        tids = [(await client.threads.create())["thread_id"] for _ in range(2)]
        runs = [await client.runs.create(tid, "agent", input=probe_request(("slow", 60))) for tid in tids]
        joins = [asyncio.create_task(client.runs.join(tid, run["run_id"])) for tid, run in zip(tids, runs, strict=True)]

        async def both_running() -> bool:
            rows = await asyncio.to_thread(
                server.query, "SELECT count(*) FROM probe_calls WHERE thread_id = ANY(%s) AND phase = 'started'", tids
            )
            return rows[0][0] == 2

        await eventually(both_running)
        assert len(await worker_ids_of(server, tids)) == 2, "with one run per process, the two run on both"
        server.process.send_signal(signal.SIGTERM)
        # A liveness bound, not a measurement: open requests get GRACE_S, in-flight runs GRACE_S more.
        code = await asyncio.wait_for(server.process.wait(), 4 * GRACE_S + 20)
        for join in joins:
            with contextlib.suppress(httpx.HTTPError):
                await join
        alive = [pid for pid in children if not dead(pid)]

    assert code == 0, "the parent exits cleanly once its children have"
    assert alive == [], "no server process outlives the parent"
    rows = server.query(
        "SELECT status, worker_id FROM runs WHERE run_id::text = ANY(%s)", [run["run_id"] for run in runs]
    )
    assert rows == [("pending", None)] * 2, "both in-flight runs went back to the queue; none is left running"


async def test_a_sigkilled_process_is_replaced_and_its_run_finishes_on_another(processes_db):
    async with serving(processes_db) as server:
        client = server.client()
        tid = (await client.threads.create())["thread_id"]
        run = await client.runs.create(tid, "agent", input=probe_request(("a", 0), ("b", 3)))

        async def inside_b() -> str | None:
            rows = await asyncio.to_thread(
                server.query,
                "SELECT r.worker_id FROM runs r JOIN probe_calls p ON p.thread_id = r.thread_id::text "
                "WHERE r.run_id = %s AND p.label = 'b' AND r.status = 'running'",
                run["run_id"],
            )
            return rows[0][0] if rows else None

        first_worker = await eventually(inside_b)
        victim = int(first_worker.rsplit(":", 1)[1])
        os.kill(victim, signal.SIGKILL)

        async def joined() -> dict[str, Any] | None:
            # A kept-alive connection may have been the victim's: a client reconnects, to a live process.
            try:
                return await server.client().runs.join(tid, run["run_id"])
            except httpx.TransportError:
                return None

        # Liveness bounds: the run is taken over through the dead process's lock, well before RUN_LEASE_S.
        result = await eventually(joined, within_s=60)

        async def replaced() -> bool:
            live = server.children()
            return len(live) == 2 and victim not in live

        await eventually(replaced)
        (status, worker, attempt), *_ = server.query(
            "SELECT status, worker_id, attempt FROM runs WHERE run_id = %s", run["run_id"]
        )

    assert [o["data"]["label"] for o in result["observations"]] == ["a", "b"]
    assert (status, attempt) == ("success", 2)
    assert worker != first_worker, "another process finished the run"


async def test_children_do_not_outlive_a_sigkilled_parent(processes_db):
    async with serving(processes_db) as server:
        children = server.children()
        assert len(children) == 2
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()

        async def all_gone() -> bool:
            return all(dead(pid) for pid in children)

        await eventually(all_gone)

        async def port_closed() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    await http.get(f"{server.url}/ok")
            except httpx.ConnectError:
                return True
            return False

        assert await eventually(port_closed)


async def test_a_misconfiguration_stops_serve_with_an_error_before_any_process_starts(processes_db):
    port = free_port()
    env = server_env(port, DATABASE_URL=processes_db, APPROVAL_WEBHOOK_URL="http://127.0.0.1:9/hook", LOG_LEVEL="INFO")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handrail", "serve", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 3, "uvicorn's startup-failure status"
    assert b"WEBHOOK_SECRET is not" in stderr
    assert b"serve.starting" not in stderr


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hrp-", dir="/tmp"))  # short: Postgres puts its socket in it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postmasters(pgdata: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmdline and cmdline[cmdline.index("-D") + 1] == str(pgdata):
            found.append(proc.pid)
    return found


async def test_without_database_url_both_processes_share_one_embedded_postgres(data_dir):
    pgdata = data_dir.resolve() / "pg"
    dsn = f"postgresql://postgres@/postgres?host={pgdata}"
    async with serving(dsn, embedded_in=data_dir) as server:
        client = server.client()

        async def ask(i: int) -> str:
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "agent", input=user(f"what is {i}+1"))
            return tid

        tids = await asyncio.gather(*(ask(i) for i in range(8)))
        infos = [await client.http.get("/info") for _ in range(4)]
        running = postmasters(pgdata)
        ran_on = await worker_ids_of(server, list(tids))
        server.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(server.process.wait(), 4 * GRACE_S + 20)

    assert len(running) == 1, "one Postgres for both processes"
    assert {i["handrail"]["database"] for i in infos} == {"embedded"}
    assert len(ran_on) == 2
    assert code == 0
    assert dead(running[0]), "the parent stopped the embedded Postgres on its way out"
