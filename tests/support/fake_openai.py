"""A scripted, OpenAI-compatible chat-completions server on 127.0.0.1 for tests (stdlib only).

    with FakeOpenAI() as fake:
        fake.enqueue_tool_call("Plan", {"steps": []})
        fake.enqueue_text("done")
        model = make_chat_model("openai:gpt-4.1-mini", base_url=fake.base_url, api_key="sk-test", ...)

Each `POST /v1/chat/completions` pops the next scripted behaviour. An empty queue answers 500
("fake: no scripted response") so an unexpected model call fails the test loudly, unless a
`respond_with(fn)` responder is set (many runs whose calls are answered by what they ask).
`fail_randomly(rate)` makes that share of requests fail with a transient error before any script is
used. Streaming is not supported (`stream: true` answers 400). Every request is recorded in `.requests`
(with `.received_at`, a `time.monotonic()` reading), every answer sent in `.responses`.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

CHAT_PATH = "/v1/chat/completions"


class ReceivedRequest(dict[str, Any]):
    """The parsed JSON body of one request (a dict), plus its `.path` and lower-cased `.headers`."""

    def __init__(self, body: dict[str, Any], *, path: str, headers: dict[str, str]) -> None:
        super().__init__(body)
        self.path = path
        self.headers = headers
        self.received_at = time.monotonic()

    @property
    def tool_names(self) -> list[str]:
        """The names of the function tools offered in this request."""
        return [t.get("function", {}).get("name") for t in self.get("tools") or []]


@dataclass(frozen=True)
class SentResponse:
    """What the fake answered (or would have answered, for a request the client gave up on)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return int((self.body.get("usage") or {}).get("total_tokens", 0))


@dataclass(frozen=True)
class _Reply:
    """A 200 chat.completion: either tool calls or text."""

    content: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); estimated when None


@dataclass(frozen=True)
class _Error:
    status: int
    message: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Hang:
    seconds: float
    then: _Reply | _Error


_Behaviour = _Reply | _Error | _Hang

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


class FakeOpenAI:
    """Context manager running the fake server in a background thread; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.responses: list[SentResponse] = []
        self._queue: deque[_Behaviour] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._responder: Callable[[ReceivedRequest], _Behaviour] | None = None
        self._failure_rate = 0.0
        self._failure_statuses: tuple[int, ...] = ()
        self._random = random.Random(0)

    # -- scripting -------------------------------------------------------------------------------

    def enqueue_tool_call(self, name: str, args: dict[str, Any], *, usage: tuple[int, int] | None = None) -> FakeOpenAI:
        """Answer the next request with one call of function `name` with `args`."""
        return self._push(_Reply(tool_calls=((name, args),), usage=usage))

    def enqueue_text(self, content: str, *, usage: tuple[int, int] | None = None) -> FakeOpenAI:
        """Answer the next request with an assistant text message."""
        return self._push(_Reply(content=content, usage=usage))

    def enqueue_error(
        self, status: int, message: str | None = None, *, headers: dict[str, str] | None = None
    ) -> FakeOpenAI:
        """Answer the next request with an OpenAI-style error body; a 429 carries `Retry-After: 0`."""
        extra = {"Retry-After": "0"} if status == 429 else {}
        extra |= headers or {}
        return self._push(_Error(status, message or f"fake: scripted error {status}", extra))

    def enqueue_hang(self, seconds: float, *, then_text: str = "fake: late reply") -> FakeOpenAI:
        """Accept the next request and wait `seconds` before answering (with `then_text`).

        The wait ends early when the fake shuts down, so a hang never outlives the test.
        """
        return self._push(_Hang(seconds, _Reply(content=then_text)))

    def respond_with(self, responder: Callable[[ReceivedRequest], Any]) -> FakeOpenAI:
        """Answer requests the queue has nothing for with `responder(request)`, which returns one of
        `FakeOpenAI.tool_call(name, args)`, `FakeOpenAI.text(content)` or `FakeOpenAI.error(status, message)`."""
        self._responder = responder
        return self

    @staticmethod
    def tool_call(name: str, args: dict[str, Any]) -> Any:
        return _Reply(tool_calls=((name, args),))

    @staticmethod
    def text(content: str) -> Any:
        return _Reply(content=content)

    @staticmethod
    def error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        return _Error(status, message, headers or {})

    def fail_randomly(self, rate: float, *, statuses: tuple[int, ...] = (429, 500, 503), seed: int = 0) -> FakeOpenAI:
        """Fail this share of requests (chosen by a seeded generator) with one of `statuses`, before the
        queue or the responder is consulted; a 429 carries `Retry-After: 0`."""
        self._failure_rate, self._failure_statuses, self._random = rate, statuses, random.Random(seed)
        return self

    @property
    def pending(self) -> int:
        """How many scripted behaviours have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def total_tokens(self) -> int:
        """The sum of `usage.total_tokens` over every successful answer sent."""
        with self._lock:
            return sum(r.total_tokens for r in self.responses if r.status == 200)

    def _push(self, behaviour: _Behaviour) -> FakeOpenAI:
        with self._lock:
            self._queue.append(behaviour)
        return self

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()  # wake any hanging handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    # -- answering (called from handler threads) -------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            return self._record(_error_body(400, f"fake: invalid JSON body: {exc}"), 400, {})
        request = ReceivedRequest(body, path=path, headers=headers)
        with self._lock:
            self.requests.append(request)
        if path != CHAT_PATH:
            return self._record(_error_body(404, f"fake: unknown path {path}"), 404, {})
        if body.get("stream"):
            return self._record(_error_body(400, "fake: streaming is not supported"), 400, {})
        with self._lock:
            behaviour: _Behaviour | None = None
            if self._failure_rate and self._random.random() < self._failure_rate:
                status = self._random.choice(self._failure_statuses)
                behaviour = _Error(
                    status, f"fake: random error {status}", {"Retry-After": "0"} if status == 429 else {}
                )
            elif self._queue:
                behaviour = self._queue.popleft()
        if behaviour is None and self._responder is not None:
            behaviour = self._responder(request)
        if behaviour is None:
            return self._record(_error_body(500, "fake: no scripted response"), 500, {})
        if isinstance(behaviour, _Hang):
            self._closing.wait(behaviour.seconds)
            behaviour = behaviour.then
        if isinstance(behaviour, _Error):
            return self._record(_error_body(behaviour.status, behaviour.message), behaviour.status, behaviour.headers)
        return self._record(self._completion(body, raw, behaviour), 200, {})

    def _record(
        self, body: dict[str, Any], status: int, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.responses.append(SentResponse(status, body, dict(headers)))
        return status, body, headers

    def _completion(self, request: dict[str, Any], raw: bytes, reply: _Reply) -> dict[str, Any]:
        n = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        produced = reply.content or ""
        if reply.tool_calls:
            calls = []
            for i, (name, args) in enumerate(reply.tool_calls, start=1):
                arguments = json.dumps(args)
                produced += name + arguments
                calls.append(
                    {"id": f"call_fake_{n}_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
                )
            message["tool_calls"] = calls
        # A rough, deterministic estimate (~4 characters a token) unless the script fixes the usage.
        prompt_tokens, completion_tokens = reply.usage or (max(1, len(raw) // 4), max(1, len(produced) // 4))
        return {
            "id": f"chatcmpl-fake-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "unknown"),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.owner._answer(self.path, headers, raw)
        self._send(status, body, extra)

    def do_GET(self) -> None:
        self._send(404, _error_body(404, f"fake: unknown path {self.path}"), {})

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")  # one request per connection: nothing idles at shutdown
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during a hang)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet
