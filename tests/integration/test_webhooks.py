"""Webhook delivery against a real HTTP receiver on 127.0.0.1, with every attempt recorded in the real database.

Deliveries that the SSRF guard checks (allow_private=False) get their DNS from a scripted resolver, and their
connections from a network backend that records where httpcore was told to connect: there is no internet here.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import pytest

from handrail.errors import Unprocessable
from handrail.webhooks import (
    Resolver,
    TargetRefused,
    WebhookSender,
    check_webhook_url,
    pin_target,
    resolve_host,
    sign,
    verify,
)
from tests.support.webhook_receiver import Receiver, running_receiver

SECRET = "shared-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as recv:
        yield recv


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def sender(
    pool,
    http: httpx.AsyncClient,
    *,
    secret: str | None = SECRET,
    max_attempts: int = 3,
    resolve: Resolver = resolve_host,
) -> WebhookSender:
    return WebhookSender(
        pool, http, secret=secret, max_attempts=max_attempts, backoff_s=0.01, timeout_s=2.0, resolve=resolve
    )


PUBLIC = "93.184.216.34"  # a global address; nothing here ever reaches it
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


@dataclass
class ScriptedDNS:
    """A resolver giving the scripted answers in order (the last one from then on) and recording every question."""

    answers: list[list[str] | OSError]
    questions: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.questions.append((host, port))
        answer = self.answers[min(len(self.questions), len(self.answers)) - 1]
        if isinstance(answer, OSError):
            raise answer
        return list(answer)


class RecordedStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream, tls_hostnames: list[str | None]) -> None:
        self._stream = stream
        self._tls_hostnames = tls_hostnames

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109  (httpcore's signature)
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109  (httpcore's signature)
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
    ) -> Any:
        # The name the certificate would be verified against is all this test needs; the receiver speaks no TLS.
        self._tls_hostnames.append(server_hostname)
        raise httpcore.ConnectError("test network: TLS handshake not simulated")

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """The network as httpcore sees it: records each (host, port) it is told to connect to, and carries the
    connection to the local receiver instead."""

    def __init__(self, receiver_port: int) -> None:
        self.connects: list[tuple[str, int]] = []
        self.tls_hostnames: list[str | None] = []
        self._receiver_port = receiver_port
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        stream = await self._real.connect_tcp("127.0.0.1", self._receiver_port, timeout=timeout)
        return RecordedStream(stream, self.tls_hostnames)


class CoreTransport(httpx.AsyncBaseTransport):
    """What httpx's default transport does (an httpcore pool), over a given network backend."""

    def __init__(self, network: httpcore.AsyncNetworkBackend) -> None:
        self._pool = httpcore.AsyncConnectionPool(network_backend=network)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core)
            body = await response.aread()
            await response.aclose()
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        return httpx.Response(response.status, headers=response.headers, content=body, extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


@pytest.fixture
async def network(receiver: Receiver) -> RecordingNetwork:
    return RecordingNetwork(int(receiver.url.split(":")[2].split("/")[0]))


@pytest.fixture
async def pinned_http(network: RecordingNetwork) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=CoreTransport(network)) as client:
        yield client


async def attempts(pool, subject_id: str) -> list[dict]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, url, attempt, status_code, error, delivered FROM webhook_deliveries"
            " WHERE subject_id = %s ORDER BY attempt",
            (subject_id,),
        )
        return await cur.fetchall()


def names_resolving_to_loopback() -> tuple[str | None, dict[str, list[str]]]:
    """A host name the local resolver (not the network) maps to 127.0.0.1, and what every candidate resolved to."""
    candidates = [socket.gethostname(), "localhost.localdomain", "ip6-localhost", "ip6-loopback"]
    with open("/etc/hosts") as hosts:  # read only: aliases the machine already has
        for line in hosts:
            candidates += line.partition("#")[0].split()[1:]
    found: dict[str, list[str]] = {}
    for name in dict.fromkeys(candidates):
        if name == "localhost" or name.endswith(".localhost"):
            continue  # refused by name already; the bypass is about other names
        try:
            found[name] = sorted({str(info[4][0]) for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)})
        except OSError as exc:
            found[name] = [f"<{exc}>"]
            continue
        if "127.0.0.1" in found[name]:
            return name, found
    return None, found


@pytest.fixture(scope="module")
def loopback_name() -> str:
    name, found = names_resolving_to_loopback()
    if name is None:
        pytest.skip(f"no host name resolves to 127.0.0.1 through the local resolver here; tried {found}")
    return name


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_delivered_webhook_is_signed_so_receiver_verifies_it_and_tampering_fails(pool, http, receiver):
    receiver.secret = SECRET
    subject = f"apr-{uuid.uuid4()}"
    payload = {"approval_id": subject, "tool": "send_email", "at": time.time()}

    assert await sender(pool, http).deliver("approval", subject, receiver.url, payload, allow_private=True) is True

    [got] = receiver.requests
    assert got.verified is True
    assert json.loads(got.body) == payload
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-handrail-event"] == "approval"
    ts, sig = got.headers["x-handrail-timestamp"], got.headers["x-handrail-signature"]
    assert sig == sign(SECRET, ts, got.body)
    assert not verify(SECRET, ts, got.body.replace(b"send_email", b"drop_tables"), sig)
    assert not verify("wrong-secret", ts, got.body, sig)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in await attempts(pool, subject)] == [(1, 200, True)]


async def test_unsigned_delivery_carries_no_signature_header(pool, http, receiver):
    subject = f"run-{uuid.uuid4()}"
    assert await sender(pool, http, secret=None).deliver(
        "run", subject, receiver.url, {"run_id": subject}, allow_private=True
    )
    [got] = receiver.requests
    assert "x-handrail-signature" not in got.headers
    assert got.headers["x-handrail-event"] == "run"


async def test_receiver_failing_twice_then_accepting_gets_payload_on_third_attempt_with_one_delivery_id(
    pool, http, receiver
):
    receiver.secret = SECRET
    receiver.script = [500, 500]
    subject = f"run-{uuid.uuid4()}"

    delivered = await sender(pool, http, max_attempts=5).deliver(
        "run", subject, receiver.url, {"run_id": subject}, allow_private=True
    )

    assert delivered is True
    assert len(receiver.requests) == 3
    assert all(r.verified for r in receiver.requests)  # each attempt re-signed, each verifies
    assert len({r.headers["x-handrail-delivery"] for r in receiver.requests}) == 1
    assert json.loads(receiver.requests[2].body) == {"run_id": subject}
    rows = await attempts(pool, subject)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert {r["kind"] for r in rows} == {"run"} and {r["url"] for r in rows} == {receiver.url}
    assert rows[0]["error"] and rows[2]["error"] is None


async def test_receiver_answering_400_is_not_retried(pool, http, receiver):
    receiver.script = [400]
    subject = f"run-{uuid.uuid4()}"

    assert (
        await sender(pool, http).deliver("run", subject, receiver.url, {"run_id": subject}, allow_private=True) is False
    )

    assert len(receiver.requests) == 1
    rows = await attempts(pool, subject)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [(1, 400, False)]


async def test_unreachable_url_is_retried_max_attempts_times_and_recorded_without_raising(pool, http):
    subject = f"apr-{uuid.uuid4()}"
    url = f"http://127.0.0.1:{closed_port()}/hooks"

    assert (
        await sender(pool, http, max_attempts=3).deliver("approval", subject, url, {"x": 1}, allow_private=True)
        is False
    )

    rows = await attempts(pool, subject)
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert all(r["status_code"] is None and r["error"] and not r["delivered"] for r in rows)


async def test_run_webhook_to_a_name_resolving_to_loopback_is_refused_and_recorded(pool, http, receiver, loopback_name):
    url = receiver.url.replace("127.0.0.1", loopback_name)
    assert check_webhook_url(url, allow_private=False) == url  # a name passes the request-time check: send time decides
    subject = f"run-{uuid.uuid4()}"

    delivered = await sender(pool, http).deliver("run", subject, url, {"run_id": subject}, allow_private=False)

    assert delivered is False
    assert receiver.requests == []
    [row] = await attempts(pool, subject)  # one attempt: a private answer is not retried
    assert (row["status_code"], row["delivered"]) == (None, False)
    assert loopback_name in row["error"] and "127.0.0.1" in row["error"] and "WEBHOOK_ALLOW_PRIVATE" in row["error"]


async def test_webhook_to_a_name_resolving_to_loopback_is_delivered_when_private_targets_are_allowed(
    pool, http, receiver, loopback_name
):
    url = receiver.url.replace("127.0.0.1", loopback_name)
    subject = f"apr-{uuid.uuid4()}"

    assert await sender(pool, http).deliver("approval", subject, url, {"x": 1}, allow_private=True) is True

    [got] = receiver.requests
    assert got.headers["host"] == url.split("/")[2]
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in await attempts(pool, subject)] == [(1, 200, True)]


async def test_guarded_delivery_connects_to_exactly_the_address_it_checked_with_the_original_host_header(
    pool, pinned_http, network, receiver
):
    # After the check, DNS would answer loopback (rebinding): the connection must not ask again.
    dns = ScriptedDNS([[PUBLIC], ["127.0.0.1"]])
    subject = f"run-{uuid.uuid4()}"
    url = "http://hooks.example.com/hooks?token=t"

    delivered = await sender(pool, pinned_http, resolve=dns).deliver("run", subject, url, {"n": 1}, allow_private=False)

    assert delivered is True
    assert dns.questions == [("hooks.example.com", 80)]
    assert network.connects == [(PUBLIC, 80)]
    [got] = receiver.requests
    assert got.headers["host"] == "hooks.example.com"
    assert got.headers["connection"] == "close"  # a pinned connection is never reused for another host name
    assert json.loads(got.body) == {"n": 1}


async def test_each_attempt_rechecks_dns_so_a_retry_after_rebinding_to_loopback_is_refused_and_not_sent(
    pool, pinned_http, network, receiver
):
    receiver.script = [500]
    dns = ScriptedDNS([[PUBLIC], ["127.0.0.1"]])
    subject = f"run-{uuid.uuid4()}"
    url = "http://hooks.example.com:8080/hooks"

    webhooks = sender(pool, pinned_http, max_attempts=5, resolve=dns)
    assert await webhooks.deliver("run", subject, url, {"n": 1}, allow_private=False) is False

    assert network.connects == [(PUBLIC, 8080)] and len(receiver.requests) == 1
    rows = await attempts(pool, subject)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [(1, 500, False), (2, None, False)]
    assert rows[1]["error"].startswith("refused: webhook host 'hooks.example.com' resolves to 127.0.0.1, a loopback")


async def test_guarded_https_delivery_verifies_tls_against_the_original_host_name_not_the_address(
    pool, pinned_http, network
):
    dns = ScriptedDNS([[PUBLIC]])
    subject = f"run-{uuid.uuid4()}"
    url = "https://hooks.example.com:8443/hooks"

    webhooks = sender(pool, pinned_http, max_attempts=1, resolve=dns)
    assert await webhooks.deliver("run", subject, url, {"n": 1}, allow_private=False) is False

    assert network.connects == [(PUBLIC, 8443)]
    assert network.tls_hostnames == ["hooks.example.com"]  # SNI and certificate check: the name, not the address
    [row] = await attempts(pool, subject)
    assert row["url"] == url and "ConnectError" in row["error"]


async def test_guarded_delivery_does_not_follow_a_redirect_even_if_the_client_would(pool):
    sent: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(307, headers={"Location": "http://127.0.0.1:9/admin"})

    dns = ScriptedDNS([[PUBLIC]])
    subject = f"run-{uuid.uuid4()}"
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver), follow_redirects=True) as client:
        delivered = await sender(pool, client, resolve=dns).deliver(
            "run", subject, "http://hooks.example.com/", {"n": 1}, allow_private=False
        )

    assert delivered is False
    assert [str(r.url) for r in sent] == [f"http://{PUBLIC}/"]
    assert [(r["status_code"], r["delivered"]) for r in await attempts(pool, subject)] == [(307, False)]


async def test_a_name_that_does_not_resolve_is_recorded_and_retried_without_sending(pool, http):
    dns = ScriptedDNS([socket.gaierror(socket.EAI_NONAME, "Name or service not known")])
    subject = f"run-{uuid.uuid4()}"

    webhooks = sender(pool, http, max_attempts=2, resolve=dns)
    assert await webhooks.deliver("run", subject, "https://nowhere.example/", {}, allow_private=False) is False

    rows = await attempts(pool, subject)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [(1, None, False), (2, None, False)]
    assert "'nowhere.example' did not resolve" in rows[0]["error"]


async def test_pin_target_swaps_the_host_for_the_checked_address_and_keeps_the_name_for_host_and_tls():
    dns = ScriptedDNS([[PUBLIC_V6, PUBLIC]])

    pinned = await pin_target("https://user:pw@hooks.example.com:8443/a/b?x=1", resolve=dns)

    assert dns.questions == [("hooks.example.com", 8443)]
    assert pinned.address == PUBLIC_V6
    assert str(pinned.url) == f"https://user:pw@[{PUBLIC_V6}]:8443/a/b?x=1"
    assert (pinned.host, pinned.host_header) == ("hooks.example.com", "hooks.example.com:8443")


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ([PUBLIC, "10.0.0.7"], "10.0.0.7, a private"),
        ([PUBLIC_V6, "::1"], "::1, a loopback"),
        (["::ffff:127.0.0.1"], "::ffff:127.0.0.1, a loopback"),
        (["169.254.169.254"], "169.254.169.254, a link-local"),
        (["0.0.0.0"], "0.0.0.0, an unspecified"),
    ],
)
async def test_pin_target_refuses_a_name_if_any_resolved_address_is_not_public(answer, refused):
    with pytest.raises(TargetRefused, match=f"'hooks.example.com' resolves to {refused}") as caught:
        await pin_target("https://hooks.example.com/", resolve=ScriptedDNS([answer]))
    assert caught.value.retry is False


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://[::1]:8/", "http://2130706433/", "http://x.localhost/"])
async def test_pin_target_refuses_private_literals_without_asking_dns(url):
    dns = ScriptedDNS([[PUBLIC]])
    with pytest.raises(TargetRefused, match="WEBHOOK_ALLOW_PRIVATE"):
        await pin_target(url, resolve=dns)
    assert dns.questions == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/",
        "http://localhost:9/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://2130706433/",
    ],
)
def test_check_webhook_url_refuses_private_hosts_unless_allowed(url):
    with pytest.raises(Unprocessable, match="WEBHOOK_ALLOW_PRIVATE"):
        check_webhook_url(url, allow_private=False)
    assert check_webhook_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["ftp://x", "hooks.example.com/a", "http:///path", "http://[::1/"])
def test_check_webhook_url_refuses_non_http_urls_even_when_private_allowed(url):
    with pytest.raises(Unprocessable):
        check_webhook_url(url, allow_private=True)


def test_check_webhook_url_accepts_public_https():
    assert check_webhook_url("https://hooks.example.com/a", allow_private=False) == "https://hooks.example.com/a"


def test_verify_rejects_timestamps_outside_the_tolerance():
    body = b'{"a":1}'
    now = 1_700_000_000.0
    fresh, stale, future = str(int(now) - 10), str(int(now) - 301), str(int(now) + 301)
    assert verify(SECRET, fresh, body, sign(SECRET, fresh, body), now=now)
    assert not verify(SECRET, stale, body, sign(SECRET, stale, body), now=now)
    assert not verify(SECRET, future, body, sign(SECRET, future, body), now=now)
    assert not verify(SECRET, "not-a-number", body, sign(SECRET, "not-a-number", body), now=now)
