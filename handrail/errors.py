"""Handrail's exceptions, split by whose fault it is. Each maps to one HTTP status.

HandrailError
├── ClientError                 the caller's fault (4xx)
│   ├── InvalidRequest          400  a malformed value the schema could not catch
│   │   ├── InvalidResume       400  a resume value that is not a valid review decision
│   │   └── Blocked             400  input a guardrail refused (carries `guardrail` and `blocked`)
│   ├── Unauthorized            401  missing or unknown API key
│   ├── Forbidden               403  a valid key without the right (an admin-only endpoint)
│   ├── NotFound                404  unknown id, or another user's
│   ├── Conflict                409  busy thread, decided approval, existing id
│   ├── Unprocessable           422  a well-formed body with an unusable value (webhook URL, stream mode)
│   └── RateLimited             429  too many requests (carries retry_after)
│       └── UserBudgetExceeded  429  the user's USER_DAILY_BUDGET_USD is spent; retry after UTC midnight
├── ModelError                  the model's fault: unusable output after retries
├── ToolError                   a tool's fault (tools return ToolResult; this is for the runner)
└── InfrastructureError         503  a dependency is down or misconfigured
    ├── ConfigurationError           settings that cannot work; raised at start-up
    └── SpendBreakerOpen        503  GLOBAL_HOURLY_BUDGET_USD is spent; no new runs until the next UTC hour

An error may carry `headers` for its response (Retry-After) and `body_extra`, fields merged into the JSON
body next to `detail` (a guardrail's name, the figures a client can act on).
"""

from __future__ import annotations

import math
from typing import Any


class HandrailError(Exception):
    """Root of every error Handrail raises on purpose. The message names the cause and the fix."""

    status_code = 500
    headers: dict[str, str] | None = None
    body_extra: dict[str, Any] | None = None


class ClientError(HandrailError):
    status_code = 400


class InvalidRequest(ClientError):
    status_code = 400


class InvalidResume(InvalidRequest):
    pass


class Blocked(InvalidRequest):
    """Input a guardrail refused before any run was created; the body names the rule."""

    def __init__(self, message: str, guardrail: str) -> None:
        super().__init__(message)
        self.body_extra = {"guardrail": guardrail, "blocked": True}


class Unauthorized(ClientError):
    status_code = 401


class Forbidden(ClientError):
    status_code = 403


class NotFound(ClientError):
    status_code = 404


class Conflict(ClientError):
    status_code = 409


class Unprocessable(ClientError):
    status_code = 422


class RateLimited(ClientError):
    status_code = 429

    def __init__(self, message: str, retry_after: float, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # Rounded up: a client that waits exactly Retry-After must find the slot free.
        self.headers = {**(headers or {}), "Retry-After": str(max(1, math.ceil(retry_after)))}


class UserBudgetExceeded(RateLimited):
    """A user's spend today (UTC) reached USER_DAILY_BUDGET_USD: new runs wait for the next UTC midnight."""

    def __init__(self, message: str, retry_after: float, body_extra: dict[str, Any]) -> None:
        super().__init__(message, retry_after)
        self.body_extra = body_extra


class ModelError(HandrailError):
    status_code = 502


class ToolError(HandrailError):
    status_code = 502


class InfrastructureError(HandrailError):
    status_code = 503


class ConfigurationError(InfrastructureError):
    pass


class SpendBreakerOpen(InfrastructureError):
    """The whole service's spend this UTC hour reached GLOBAL_HOURLY_BUDGET_USD: no new runs for anyone until
    the next hour, or until an admin resets it (POST /admin/spend/reset)."""

    def __init__(self, message: str, retry_after: float, body_extra: dict[str, Any]) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        self.body_extra = body_extra


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message, cut to its first line (libraries append help links and dumps) and to
    `limit` characters, fit for a client's `detail`; its class name when it has no message."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:limit]
