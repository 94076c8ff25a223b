"""A minimal HTTP/1.1 webhook receiver on 127.0.0.1 that checks Handrail's signatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from handrail.webhooks import verify

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: the receiver has no secret to check with


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: answers the scripted statuses in order (then 200) and checks signatures."""

    secret: str | None = None
    script: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            verified = None
            if self.secret is not None:
                verified = verify(
                    self.secret,
                    headers.get("x-handrail-timestamp", ""),
                    body,
                    headers.get("x-handrail-signature", ""),
                )
            self.requests.append(Received(headers, body, verified))
            status = self.script.pop(0) if self.script else 200
            if verified is False:
                status = 401
            reply = REASONS.get(status, "Status").encode()
            writer.write(
                b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (status, reply, len(reply), reply)
            )
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def running_receiver(secret: str | None = None) -> AsyncIterator[Receiver]:
    recv = Receiver(secret=secret)
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    async with server:
        yield recv
        server.close()
