"""`python -m handrail serve`: one server process, or PROCESSES of them sharing PORT under uvicorn's supervisor.

With several, the parent owns what must exist once: the embedded Postgres (DATABASE_URL unset), whose DSN the
children inherit as DATABASE_URL, and one opening of the services before any child starts (migrations, and every
configuration check a child would fail on). Each child then runs the usual lifespan: its own pool, in-process
worker (worker id `host:pid`) and bus subscription. What they share lives in Postgres (the run queue, liveness
locks, approvals, event logs) or crosses processes on the bus, as between replicas.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from uvicorn.config import STARTUP_FAILURE

from handrail.db import _start_embedded
from handrail.metrics import MULTIPROC_ENV
from handrail.services import open_services
from handrail.settings import Settings
from server import create_app

logger = logging.getLogger("handrail.serve")

SINGLE_APP = "server:create_app"
CHILD_APP = "handrail.processes:child_app"


def process_count(settings: Settings) -> int:
    """PROCESSES, or (0) one per CPU core this process may run on."""
    if settings.processes:
        return settings.processes
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def serve(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; the exit status."""
    processes = process_count(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "proxy_headers": False,
        # Without a bound, one open stream (a join on a long run) would keep a SIGTERMed server alive.
        "timeout_graceful_shutdown": max(1, math.ceil(settings.shutdown_grace_s)),
    }
    if processes == 1:
        # workers=1 explicitly: uvicorn would otherwise read WEB_CONCURRENCY and fork without a shared database.
        uvicorn.run(SINGLE_APP, factory=True, workers=1, **options)
        return 0
    startup = _Startup()
    signal.signal(signal.SIGTERM, startup.on_sigterm)
    try:
        with shared_database(settings, starting=startup.holding_signals) as shared:
            asyncio.run(_open_once(shared))
            logger.info(
                "serve.starting",
                extra={"processes": processes, "pid": os.getpid(), "workers_per_process": settings.workers},
            )
            # On SIGTERM/SIGINT the supervisor SIGTERMs every child and waits for it: each child stops like a
            # single server (SHUTDOWN_GRACE_S for open requests, then for in-flight runs, handed back to the queue).
            # A child that dies is replaced; its runs are taken over through its liveness lock.
            with _shared_metrics():
                uvicorn.run(CHILD_APP, factory=True, workers=processes, **options)
    except KeyboardInterrupt:
        logger.info("serve.interrupted_during_startup")
    except Exception:
        logger.exception("serve.startup_failed")
        return STARTUP_FAILURE
    logger.info("serve.stopped", extra={"pid": os.getpid()})
    return 0


class _Startup:
    """SIGTERM before uvicorn's supervisor takes the signals over stops `serve` at once (as KeyboardInterrupt),
    except while the embedded Postgres is starting: then it waits for the start, so the server is still released."""

    def __init__(self) -> None:
        self._holding = False
        self._asked = False

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if not self._holding:
            raise KeyboardInterrupt
        self._asked = True

    @contextmanager
    def holding_signals(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._asked:
            raise KeyboardInterrupt


@contextmanager
def _shared_metrics() -> Iterator[None]:
    """Every child writes its metric samples to one directory, so a scrape of any child counts them all
    (prometheus-client's multiprocess mode, read at import: the children import it after this)."""
    if os.environ.get(MULTIPROC_ENV):  # the operator's own directory
        yield
        return
    with tempfile.TemporaryDirectory(prefix="handrail-metrics-") as directory:
        os.environ[MULTIPROC_ENV] = directory
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)


@contextmanager
def shared_database(
    settings: Settings, *, starting: Callable[[], AbstractContextManager[None]] = nullcontext
) -> Iterator[Settings]:
    """Settings every child can reach the database with: DATABASE_URL when set; otherwise an embedded Postgres
    started here (inside `starting()`), once, exported as DATABASE_URL for the children, and released when the
    parent is done."""
    if settings.database_dsn():
        yield settings
        return
    server = None
    try:
        with starting():
            server = _start_embedded(settings.data_dir)
        dsn = server.get_uri()
        os.environ["DATABASE_URL"] = dsn  # children start with a copy of this environment
        yield settings.model_copy(update={"database_url": SecretStr(dsn)})
    finally:
        os.environ.pop("DATABASE_URL", None)
        if server is not None:
            server.cleanup()


async def _open_once(settings: Settings) -> None:
    """Open (and close) the services as each child will: migrations run once, here, and a misconfiguration
    stops `serve` with its error and a non-zero status instead of failing in every child."""
    async with open_services(settings):
        pass


def child_app() -> FastAPI:
    """What each child serves (uvicorn calls this in the child): the usual app, in a process that does not
    outlive its parent."""
    _exit_with_parent()
    return create_app()


def _exit_with_parent() -> None:
    """A child whose parent was killed (SIGKILL, the OOM killer) must not serve on unsupervised, holding the port:
    it dies too, as if the whole server had been killed, and its runs are taken over through its liveness lock.
    The parent sentinel is a pipe only the parent holds open, so it becomes readable when the parent is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return  # not a supervised child (something imported the factory directly)

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        logger.error("serve.parent_lost", extra={"parent_pid": parent.pid, "pid": os.getpid()})
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="handrail-parent-watch", daemon=True).start()
