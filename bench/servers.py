"""The servers the bench drives over HTTP, each started as its own process group and stopped with it:
`python -m handrail serve` as production starts it, and `langgraph dev` serving this repo's langgraph.json."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.http import free_port

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = Path(sys.executable).parent / "langgraph"


@dataclass
class Server:
    """A running server: where it answers, its process, and what was used to start it."""

    name: str
    url: str
    process: asyncio.subprocess.Process
    log: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def processes(self) -> dict[str, int]:
        """Live processes in the server's process group, and how many of them serve: the children a
        supervisor spawned (uvicorn's multiprocess mode), or else the one process itself."""
        members = group_members(self.process.pid)
        children = sum(b"--multiprocessing-fork" in _cmdline(pid) for pid in members)
        return {"in_group": len(members), "serving": children or 1}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
                members.append(int(stat.parent.name))
    return members


async def wait_ready(url: str, process: asyncio.subprocess.Process, log: Path, timeout_s: float = 60.0) -> float:
    """Seconds until GET /ok answers 200; raises with the log's tail when the process dies or never answers."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.perf_counter() - started < timeout_s:
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/ok")).status_code == 200:
                    return time.perf_counter() - started
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} was not ready after {time.perf_counter() - started:.0f} s; log tail:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _remove(log: Path) -> None:
    log.unlink(missing_ok=True)


async def stop(process: asyncio.subprocess.Process, grace_s: float = 15.0) -> None:
    """SIGTERM to the whole process group, then SIGKILL to what is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def spawn(argv: list[str], env: Mapping[str, str], log: IO[bytes]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def handrail_env(dsn: str, port: int, **extra: str) -> dict[str, str]:
    """The environment production would give the server, on the scratch database; PROCESSES as inherited."""
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REDIS_PREFIX": f"handrail-bench-{uuid.uuid4().hex[:8]}:",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextlib.asynccontextmanager
async def handrail_server(dsn: str, **extra_env: str) -> AsyncIterator[Server]:
    """`python -m handrail migrate`, then `python -m handrail serve` on a free port, until the block ends."""
    port = free_port()
    env = handrail_env(dsn, port, **extra_env)
    with tempfile.NamedTemporaryFile(prefix="handrail-bench-", suffix=".log", delete=False) as log:
        path = Path(log.name)
        migrate = await spawn([sys.executable, "-m", "handrail", "migrate"], env, log)
        if await migrate.wait() != 0:
            raise RuntimeError(f"`python -m handrail migrate` failed; see {path}")
        process = await spawn([sys.executable, "-m", "handrail", "serve"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_s = await wait_ready(url, process, path)
        facts = {
            "command": "python -m handrail serve",
            "ready_s": round(ready_s, 2),
            "PROCESSES": os.environ.get("PROCESSES", "unset (0 = one per core)"),
            "REDIS_URL": env["REDIS_URL"],
        }
        server = Server("handrail", url, process, path, facts)
        await asyncio.sleep(0.5)  # let any forked server processes come up before counting them
        server.facts["processes"] = server.processes()
        yield server
    finally:
        await stop(process)
    _remove(path)


@contextlib.asynccontextmanager
async def langgraph_dev(dsn: str) -> AsyncIterator[Server]:
    """`langgraph dev` serving ./langgraph.json on a free port. It picks another port, silently, when the
    one asked for is taken (field notes §4), so readiness is checked on the port asked for. Its log goes
    outside the repo (the reloader would otherwise see it); DATABASE_URL points the graph's tool pool
    (handrail.db.LazyPool, opened on first use) at the scratch database instead of an embedded one."""
    if not LANGGRAPH.exists():
        raise RuntimeError(f"{LANGGRAPH} not found: pip install 'langgraph-cli[inmem]'")
    saved = _set_dev_state_aside()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"}
    argv = [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--port", str(port)]
    with tempfile.NamedTemporaryFile(prefix="langgraph-dev-bench-", suffix=".log", delete=False) as log:
        path = Path(log.name)
        process = await spawn(argv, env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_s = await wait_ready(url, process, path)
        async with httpx.AsyncClient(base_url=url) as http:
            info = (await http.get("/info")).json()
        facts = {
            "command": " ".join(["langgraph", *argv[1:]]),
            "ready_s": round(ready_s, 2),
            "langgraph_json": (ROOT / "langgraph.json").read_text(),
            "graph": "graph/dev.py: build_graph() without a checkpointer (the dev server brings its own, in memory); "
            "tools reach Postgres through handrail.db.LazyPool, opened on first use on DATABASE_URL",
            "info": info,
            # The in-memory runtime reloads ./.langgraph_api at start and re-pickles it every 10 s: state left
            # by an earlier run would slow it down, so it starts from an empty one (what was there is put back).
            "carried_over_state_bytes": sum(_dev_state().values()),
        }
        yield Server("langgraph dev", url, process, path, facts)
    finally:
        await stop(process)
        _restore_dev_state(saved)
    _remove(path)


def _dev_state() -> dict[Path, int]:
    """The files in ./.langgraph_api (the dev server's pickled threads, runs and store), with their sizes."""
    return {f: f.stat().st_size for f in (ROOT / ".langgraph_api").glob("*") if f.is_file()}


def _set_dev_state_aside() -> Path | None:
    """Move ./.langgraph_api (someone's own dev state, or an earlier run's) aside: the bench's server
    starts empty, and every run measures the same thing."""
    state = ROOT / ".langgraph_api"
    if not state.exists():
        return None
    aside = ROOT / f".langgraph_api.bench-aside-{uuid.uuid4().hex[:8]}"
    state.rename(aside)
    return aside


def _restore_dev_state(aside: Path | None) -> None:
    """Drop what the bench's server pickled and put back what was there before."""
    shutil.rmtree(ROOT / ".langgraph_api", ignore_errors=True)
    if aside is not None:
        aside.rename(ROOT / ".langgraph_api")
