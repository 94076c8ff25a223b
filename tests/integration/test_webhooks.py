"""Webhook delivery against a real HTTP receiver on 127.0.0.1, with every attempt recorded in the real database."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from handrail.errors import Unprocessable
from handrail.webhooks import WebhookSender, check_webhook_url, sign, verify
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


def sender(pool, http: httpx.AsyncClient, *, secret: str | None = SECRET, max_attempts: int = 3) -> WebhookSender:
    return WebhookSender(pool, http, secret=secret, max_attempts=max_attempts, backoff_s=0.01, timeout_s=2.0)


async def attempts(pool, subject_id: str) -> list[dict]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, url, attempt, status_code, error, delivered FROM webhook_deliveries"
            " WHERE subject_id = %s ORDER BY attempt",
            (subject_id,),
        )
        return await cur.fetchall()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_delivered_webhook_is_signed_so_receiver_verifies_it_and_tampering_fails(pool, http, receiver):
    receiver.secret = SECRET
    subject = f"apr-{uuid.uuid4()}"
    payload = {"approval_id": subject, "tool": "send_email", "at": time.time()}

    assert await sender(pool, http).deliver("approval", subject, receiver.url, payload) is True

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
    assert await sender(pool, http, secret=None).deliver("run", subject, receiver.url, {"run_id": subject})
    [got] = receiver.requests
    assert "x-handrail-signature" not in got.headers
    assert got.headers["x-handrail-event"] == "run"


async def test_receiver_failing_twice_then_accepting_gets_payload_on_third_attempt_with_one_delivery_id(
    pool, http, receiver
):
    receiver.secret = SECRET
    receiver.script = [500, 500]
    subject = f"run-{uuid.uuid4()}"

    delivered = await sender(pool, http, max_attempts=5).deliver("run", subject, receiver.url, {"run_id": subject})

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

    assert await sender(pool, http).deliver("run", subject, receiver.url, {"run_id": subject}) is False

    assert len(receiver.requests) == 1
    rows = await attempts(pool, subject)
    assert [(r["attempt"], r["status_code"], r["delivered"]) for r in rows] == [(1, 400, False)]


async def test_unreachable_url_is_retried_max_attempts_times_and_recorded_without_raising(pool, http):
    subject = f"apr-{uuid.uuid4()}"
    url = f"http://127.0.0.1:{closed_port()}/hooks"

    assert await sender(pool, http, max_attempts=3).deliver("approval", subject, url, {"x": 1}) is False

    rows = await attempts(pool, subject)
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert all(r["status_code"] is None and r["error"] and not r["delivered"] for r in rows)


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
