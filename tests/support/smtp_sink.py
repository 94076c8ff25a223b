"""A real SMTP server (aiosmtpd) on a loopback port: what it received is what actually left."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Mail:
    rcpt_tos: list[str]
    to: str
    subject: str
    body: str
    content: bytes


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = message_from_bytes(envelope.content)
        body = parsed.get_payload(decode=True) or b""
        self.messages.append(
            Mail(
                rcpt_tos=list(envelope.rcpt_tos),
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                body=body.decode(),
                content=envelope.content,
            )
        )
        return "250 OK"

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.messages if m.to == address]


@contextmanager
def running_smtp_sink() -> Iterator[tuple[Inbox, int]]:
    """(inbox, port) while the server runs."""
    with socket.socket() as probe:  # aiosmtpd's readiness check cannot follow port 0, so pick one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
