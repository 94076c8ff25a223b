"""Outgoing webhooks: HMAC signing and verification, the SSRF guard on URLs (at request time on literals, at send
time on every resolved address, with the connection pinned to the address checked), and retried, recorded delivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from handrail.db import Pool
from handrail.errors import Unprocessable

logger = logging.getLogger("handrail.webhooks")

WebhookKind = Literal["approval", "run", "handoff"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> every address the host resolves to; injectable so tests can script DNS without a network.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SSRF_FIX = "use a publicly reachable host, or set WEBHOOK_ALLOW_PRIVATE=true on a trusted deployment"

# Receivers see enough of a refusal to debug it; the row must not grow without bound.
_BODY_EXCERPT = 200


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `timestamp.body`: binding the timestamp stops an old body being replayed under a new one."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = 300,
) -> bool:
    """True iff `signature` matches and `timestamp` is within `tolerance_s` of now (either side: clocks drift)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII str, and a forged header must not raise.
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Return `url` if it is an http(s) URL a server may call; raise Unprocessable saying why not.

    Only literals and localhost names are refused here, without DNS: a lookup would cost a round-trip per request
    and still not stop a name re-pointed (DNS rebinding) before delivery. The guarantee is `pin_target`, which
    `WebhookSender.deliver` runs on every attempt.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parses the port: an invalid one raises ValueError here, not at delivery)
    except ValueError as exc:
        raise Unprocessable(f"webhook URL is not a valid URL ({exc}); send an absolute http(s) URL") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise Unprocessable(
            f"webhook URL must use http or https, not {parts.scheme or 'no scheme'!r}; send e.g. https://host/path"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Unprocessable("webhook URL has no host; send an absolute URL such as https://hooks.example.com/path")
    if allow_private:
        return url
    why = _private_reason(host)
    if why:
        raise Unprocessable(
            f"webhook URL points at {why} host {host!r}, which the server refuses to call (SSRF guard); {_SSRF_FIX}"
        )
    return url


class TargetRefused(Exception):
    """The SSRF guard will not connect to a webhook target; `retry` says whether asking DNS again could help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class PinnedTarget:
    """Where one delivery goes: `url` has its host replaced by `address`, the address that was checked."""

    url: httpx.URL
    address: str
    host: str  # the original host (ASCII): TLS SNI and certificate verification use it, not the address
    host_header: str  # the original host[:port], so virtual hosting at the receiver still works


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), in the resolver's preference order, without blocking the loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def pin_target(url: str, *, resolve: Resolver = resolve_host) -> PinnedTarget:
    """Resolve `url`'s host once, refuse it unless every address is public, and pin the request to the first.

    Every address is checked, not only the one used: a name answering both a public and a private address would
    otherwise reach the private one whenever the resolver's order changes. The request then names the checked
    address itself, so nothing resolves the host again between this check and the connect (DNS rebinding).
    Raises TargetRefused for any target it will not pin.
    """
    try:  # the request-time rules first (scheme, host, private literals): a stored URL may predate them
        check_webhook_url(url, allow_private=False)
        parsed = httpx.URL(url)
    except Unprocessable as exc:
        raise TargetRefused(str(exc), retry=False) from exc
    except httpx.InvalidURL as exc:
        raise TargetRefused(
            f"webhook URL is not a valid URL ({exc}); send an absolute http(s) URL", retry=False
        ) from exc
    host = parsed.raw_host.decode("ascii")
    try:
        addresses = await resolve(host, parsed.port or _DEFAULT_PORTS[parsed.scheme])
    except OSError as exc:  # socket.gaierror and friends: DNS may answer on the next attempt
        raise TargetRefused(f"webhook host {host!r} did not resolve ({exc}); check the name", retry=True) from exc
    if not addresses:
        raise TargetRefused(f"webhook host {host!r} resolved to no address; check the name", retry=True)
    for address in addresses:
        why = _address_reason(address)
        if why:
            raise TargetRefused(
                f"webhook host {host!r} resolves to {address}, {why} address, which the server refuses to call "
                f"(SSRF guard); {_SSRF_FIX}",
                retry=False,
            )
    try:
        pinned_url = parsed.copy_with(host=addresses[0])
    except httpx.InvalidURL as exc:  # e.g. a scoped IPv6 answer (fe80::1%eth0) that no URL can carry
        raise TargetRefused(
            f"webhook host {host!r} resolves to {addresses[0]}, which no URL can name", retry=False
        ) from exc
    return PinnedTarget(
        url=pinned_url,
        address=addresses[0],
        host=host,
        host_header=parsed.netloc.decode("ascii"),
    )


def _private_reason(host: str) -> str | None:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return "a loopback"
    ip = _ip_literal(host)
    return None if ip is None else _ip_reason(ip)


def _address_reason(address: str) -> str | None:
    """Why a resolved address must not be called, or None if it is public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "an unparseable"  # a resolver answer we cannot classify is not one we can call safely
    return _ip_reason(ip)


def _ip_reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    if ip.is_loopback:
        return "a loopback"
    if ip.is_unspecified:
        return "an unspecified"  # 0.0.0.0 reaches the local host on most systems
    if ip.is_link_local:
        return "a link-local"  # includes cloud metadata at 169.254.169.254
    if ip.is_private or not ip.is_global:
        return "a private"
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # The resolver also accepts legacy IPv4 spellings (2130706433, 0x7f.1, 127.1); catch them without DNS.
    if all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _log_safe(url: str) -> str:
    """The URL without credentials or query string: those may carry tokens and must not reach the logs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparseable>"


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    delivered: bool
    retry: bool


class WebhookSender:
    """POSTs signed JSON to a receiver, retrying transient failures, and records every attempt."""

    def __init__(
        self,
        pool: Pool,
        http: httpx.AsyncClient,
        *,
        secret: str | None,
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
        resolve: Resolver = resolve_host,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._pool = pool
        self._on_failure = on_failure  # told the kind of every delivery that gave up (metrics)
        self._http = http
        self._secret = secret
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._resolve = resolve

    async def deliver(
        self, kind: WebhookKind, subject_id: str, url: str, payload: dict[str, Any], *, allow_private: bool
    ) -> bool:
        """True iff the receiver answered 2xx. Never raises: a webhook must not fail the run or approval it reports.

        Unless `allow_private` (an operator-set URL, or WEBHOOK_ALLOW_PRIVATE), each attempt resolves the host,
        refuses it if any address is not public, and connects to the address it checked (see `pin_target`).
        """
        log = {"kind": kind, "subject_id": subject_id, "url": _log_safe(url)}
        try:
            body = json.dumps(payload, default=str, separators=(",", ":")).encode()
        except (TypeError, ValueError):  # e.g. a circular payload: nothing can be sent, but the caller carries on
            logger.exception("webhook.failed", extra={**log, "attempts": 0})
            return False
        # One id for every attempt, so a receiver that got attempt 1 but whose answer was lost can dedupe attempt 2.
        delivery_id = str(uuid.uuid4())
        log["delivery_id"] = delivery_id
        attempt = 0
        for attempt in range(1, self._max_attempts + 1):
            outcome = await self._attempt(kind, url, body, delivery_id, allow_private=allow_private)
            await self._record(kind, subject_id, url, attempt, outcome)
            if outcome.delivered:
                logger.info("webhook.delivered", extra={**log, "attempt": attempt, "status_code": outcome.status_code})
                return True
            if not outcome.retry:
                break
            if attempt < self._max_attempts:
                delay = self._backoff_s * 2 ** (attempt - 1)
                logger.info(
                    "webhook.retrying",
                    extra={
                        **log,
                        "attempt": attempt,
                        "status_code": outcome.status_code,
                        "error": outcome.error,
                        "retry_in_s": delay,
                    },
                )
                await asyncio.sleep(delay)
        logger.warning("webhook.failed", extra={**log, "attempts": attempt})
        if self._on_failure is not None:
            self._on_failure(kind)
        return False

    async def _attempt(
        self, kind: WebhookKind, url: str, body: bytes, delivery_id: str, *, allow_private: bool
    ) -> _Outcome:
        # A fresh timestamp per attempt: a retry after a long backoff must still pass the receiver's replay window.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Handrail-Timestamp": timestamp,
            "X-Handrail-Delivery": delivery_id,
            "X-Handrail-Event": kind,
        }
        if self._secret:
            headers["X-Handrail-Signature"] = sign(self._secret, timestamp, body)
        target: httpx.URL | str = url
        extensions: dict[str, Any] = {}
        if not allow_private:
            try:
                async with asyncio.timeout(self._timeout_s):
                    pinned = await pin_target(url, resolve=self._resolve)
            except TargetRefused as exc:
                logger.warning(
                    "webhook.refused", extra={"url": _log_safe(url), "delivery_id": delivery_id, "error": str(exc)}
                )
                return _Outcome(None, f"refused: {exc}", delivered=False, retry=exc.retry)
            except TimeoutError:
                error = f"webhook host did not resolve within {self._timeout_s} s; check the name and the DNS server"
                return _Outcome(None, error, delivered=False, retry=True)
            except Exception as exc:  # a resolver bug: refuse (fail closed), and deliver must not raise
                logger.exception("webhook.attempt_error", extra={"url": _log_safe(url), "delivery_id": delivery_id})
                return _Outcome(None, f"refused: {_describe(exc)}", delivered=False, retry=False)
            target = pinned.url
            headers["Host"] = pinned.host_header
            # The pool keys connections by address alone: a kept-alive TLS connection would carry a later request for
            # another name at the same address without checking that name's certificate. One connection per request.
            headers["Connection"] = "close"
            extensions["sni_hostname"] = pinned.host
        try:
            request = self._http.build_request(
                "POST", target, content=body, headers=headers, timeout=self._timeout_s, extensions=extensions
            )
            # Never follow a redirect: its Location was not checked, and a 3xx is not a delivery anyway.
            response = await self._http.send(request, follow_redirects=False)
        except httpx.TransportError as exc:  # refused, reset, timed out, DNS: the receiver may be back soon
            return _Outcome(None, _describe(exc), delivered=False, retry=True)
        except Exception as exc:  # a bad URL or a client bug: retrying cannot help, and deliver must not raise
            logger.exception("webhook.attempt_error", extra={"url": _log_safe(url), "delivery_id": delivery_id})
            return _Outcome(None, _describe(exc), delivered=False, retry=False)
        code = response.status_code
        if 200 <= code < 300:
            return _Outcome(code, None, delivered=True, retry=False)
        # 429 and 5xx are the receiver's temporary trouble; any other answer is a refusal that a retry won't change.
        retry = code == 429 or code >= 500
        excerpt = response.text[:_BODY_EXCERPT].strip()
        return _Outcome(code, f"HTTP {code}: {excerpt}" if excerpt else f"HTTP {code}", delivered=False, retry=retry)

    async def _record(self, kind: WebhookKind, subject_id: str, url: str, attempt: int, outcome: _Outcome) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO webhook_deliveries (kind, subject_id, url, attempt, status_code, error, delivered)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (kind, subject_id, url, attempt, outcome.status_code, outcome.error, outcome.delivered),
                )
        except Exception:
            # The delivery itself matters more than its audit row; keep going, but loudly.
            logger.exception(
                "webhook.record_failed", extra={"kind": kind, "subject_id": subject_id, "attempt": attempt}
            )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
