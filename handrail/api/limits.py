"""Request limits, checked before any work is done: body size, JSON depth, NUL characters and numbers that
Postgres or a checkpoint cannot hold (a pure ASGI middleware), and message size and count (`check_messages`,
called by the routes that take messages).

Every refusal is `{"detail": ...}` naming what was wrong, the limit and the setting that holds it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from langchain_core.messages import convert_to_messages
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.errors import Unprocessable, first_line

NUL_REFUSED = "NUL characters are not allowed"
INT64 = (-(2**63), 2**63 - 1)

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# \u0000 preceded by an even number of backslashes (an odd count would make it the text "\u0000").
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# The shape of numbers, in one translate: digits become 0, exponent marks e, everything else a space. A 19-digit
# run or a 3-digit exponent (or a NaN/Infinity constant) triggers the exact check, which parses the body.
_NUMBER_CHARS = {**dict.fromkeys(b"0123456789", ord("0")), ord("e"): ord("e"), ord("E"): ord("e"), ord("+"): ord("+")}
_NUMBER_SHAPE = bytes(_NUMBER_CHARS.get(c, ord(" ")) for c in range(256))
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_A_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


class RequestLimits:
    """Refuses a body over `max_body_bytes` with 413 (from Content-Length before reading, or as soon as a
    chunked body passes the limit), and a JSON body nested deeper than `max_json_depth`, holding a NUL
    character or a number out of range, or a URL holding a NUL, with 422. Checks are byte scans; a body is
    parsed here only when a scan finds a suspect number."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await _refuse(send, 422, f"{NUL_REFUSED} in the URL (%00); remove them from the path and query")
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _refuse(send, 413, self._too_large(f"is {declared} bytes"))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _refuse(send, 413, self._too_large("passed the limit while it was being read"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = self._json_problem(body) if body and _is_json(scope) else None
        if problem is not None:
            await _refuse(send, 422, problem)
            return
        await self.app(scope, _replay(body, receive), send)

    def _too_large(self, what: str) -> str:
        return (
            f"request body {what}; the limit is {self.max_body_bytes} bytes (setting MAX_BODY_BYTES); "
            "send less, e.g. split the input or the batch"
        )

    def _json_problem(self, body: bytes) -> str | None:
        if b"\\u0000" in body and _ESCAPED_NUL.search(body):
            return f"{NUL_REFUSED} in JSON strings (\\u0000): Postgres cannot store them; remove them"
        if body.count(b"[") + body.count(b"{") > self.max_json_depth and _too_deep(body, self.max_json_depth):
            return (
                f"JSON body nests arrays/objects deeper than {self.max_json_depth} levels "
                "(setting MAX_JSON_DEPTH); flatten it"
            )
        if _suspect_number(body):
            return _number_problem(body)
        return None


def check_messages(payloads: Iterable[tuple[str, Any]], *, max_message_chars: int, max_input_messages: int) -> None:
    """422 when one message's text is longer than `max_message_chars`, or all payloads together carry more than
    `max_input_messages` messages. Payloads are `(where, value)`: a run's `input`, its `command.update`, or a
    state update's `values`, each a dict with `messages` (or a list of them, or of `(channel, value)` pairs)."""
    found = list(payload_messages(payloads))
    if len(found) > max_input_messages:
        raise Unprocessable(
            f"the request carries {len(found)} messages; the limit is {max_input_messages} "
            "(setting MAX_INPUT_MESSAGES); send fewer, the thread keeps the earlier ones"
        )
    for path, message in found:
        chars = _text_chars(message)
        if chars > max_message_chars:
            raise Unprocessable(
                f"{path} has {chars} characters of text; the limit is {max_message_chars} "
                "(setting MAX_MESSAGE_CHARS); shorten it or split it over several messages"
            )
        _require_message(path, message)


def payload_messages(payloads: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Every message in the payloads, as `(path, message)`; the path says where it was found."""
    for where, payload in payloads:
        yield from _messages(where, payload)


def _require_message(path: str, message: Any) -> None:
    """422 for what LangGraph's message reducer cannot turn into a message; otherwise the run would be
    queued and fail in the worker. The check is the reducer's own conversion, so the two never disagree."""
    try:
        convert_to_messages([message])
    except (NotImplementedError, ValueError, TypeError, KeyError) as exc:
        raise Unprocessable(
            f"{path} is not a message ({first_line(exc, 200)}); send a string, [role, content], or an object with "
            "`role` (or `type`) and `content`"
        ) from exc


def _messages(where: str, payload: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(payload, dict):
        yield from _message_list(f"{where}.messages", payload.get("messages"))
    elif isinstance(payload, list):
        for i, item in enumerate(payload):
            if isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == "messages":
                yield from _message_list(f"{where}[{i}].messages", item[1])
            elif isinstance(item, dict):
                yield from _message_list(f"{where}[{i}].messages", item.get("messages"))


def _message_list(where: str, value: Any) -> Iterator[tuple[str, Any]]:
    if value is None:
        return
    if isinstance(value, list):
        for i, message in enumerate(value):
            yield f"{where}[{i}]", message
    else:
        yield where, value  # add_messages also takes a single message


def _text_chars(message: Any) -> int:
    """Characters of text in a message however the wire spells it: a string, a (role, content) pair, or a dict
    whose content is a string or a list of content blocks."""
    if isinstance(message, str):
        return len(message)
    if isinstance(message, (list, tuple)) and len(message) == 2:
        return _content_chars(message[1])
    if isinstance(message, dict):
        return _content_chars(message.get("content"))
    return 0


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for block in content:
            if isinstance(block, str):
                total += len(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                total += len(block["text"])
        return total
    return 0


def _too_deep(body: bytes, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit`, without parsing: strip strings, keep the brackets, then
    remove innermost pairs one level per pass. Unbalanced (invalid) JSON is left to the JSON parser."""
    brackets = _JSON_STRING.sub(b"", body).translate(_BRACKETS_ONLY, delete=_NOT_A_BRACKET)
    if b"[" * (limit + 1) in brackets:
        return True  # the usual shape of an over-deep body, found in one scan
    for _ in range(limit):
        inner_removed = brackets.replace(b"[]", b"")
        if not inner_removed or len(inner_removed) == len(brackets):
            return False
        brackets = inner_removed
    return True


def _suspect_number(body: bytes) -> bool:
    shape = body.translate(_NUMBER_SHAPE)
    return b"0" * 19 in shape or b"e000" in shape or b"e+000" in shape or b"NaN" in body or b"Infinity" in body


class _BadNumber(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BadNumber(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _int64(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not INT64[0] <= (value := int(text)) <= INT64[1]:
        raise _BadNumber(f"the integer {text[:40]}{'…' if len(text) > 40 else ''} does not fit in 64 bits")
    return value


def _no_constant(text: str) -> Any:
    raise _BadNumber(f"{text} is not a JSON number")


def _number_problem(body: bytes) -> str | None:
    try:
        json.loads(body, parse_float=_finite, parse_int=_int64, parse_constant=_no_constant)
    except _BadNumber as exc:
        return (
            f"{exc}; numbers must be finite and integers between -2^63 and 2^63-1, which Postgres and checkpoints hold"
        )
    except (ValueError, RecursionError):
        return None  # not JSON (or not UTF-8): the route's own parser answers with the position of the error
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind = value.decode("latin-1").lower()
            return "json" in kind or kind.startswith("text/plain")  # Studio may label JSON as text
    return True  # no content type: FastAPI parses the body as JSON


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, as one message; after that, what the client sends next (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    """Answer at once. An unread rest of the body is discarded by the server as it arrives (never buffered):
    closing the connection instead would reset it, and the client would see the reset, not this answer."""
    payload = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
