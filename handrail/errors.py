"""Handrail's exceptions, split by whose fault it is. Each maps to one HTTP status.

HandrailError
├── ClientError                 the caller's fault (4xx)
│   ├── InvalidRequest          400  a malformed value the schema could not catch
│   │   └── InvalidResume       400  a resume value that is not a valid review decision
│   ├── Unauthorized            401  missing or unknown API key
│   ├── NotFound                404  unknown id, or another user's
│   ├── Conflict                409  busy thread, decided approval, existing id
│   ├── Unprocessable           422  a well-formed body with an unusable value (webhook URL, stream mode)
│   └── RateLimited             429  too many requests (carries retry_after)
├── ModelError                  the model's fault: unusable output after retries
├── ToolError                   a tool's fault (tools return ToolResult; this is for the runner)
└── InfrastructureError         503  a dependency is down or misconfigured
    └── ConfigurationError           settings that cannot work; raised at start-up
"""

from __future__ import annotations


class HandrailError(Exception):
    """Root of every error Handrail raises on purpose. The message names the cause and the fix."""

    status_code = 500


class ClientError(HandrailError):
    status_code = 400


class InvalidRequest(ClientError):
    status_code = 400


class InvalidResume(InvalidRequest):
    pass


class Unauthorized(ClientError):
    status_code = 401


class NotFound(ClientError):
    status_code = 404


class Conflict(ClientError):
    status_code = 409


class Unprocessable(ClientError):
    status_code = 422


class RateLimited(ClientError):
    status_code = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelError(HandrailError):
    status_code = 502


class ToolError(HandrailError):
    status_code = 502


class InfrastructureError(HandrailError):
    status_code = 503


class ConfigurationError(InfrastructureError):
    pass


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message, cut to its first line (libraries append help links and dumps) and to
    `limit` characters, fit for a client's `detail`; its class name when it has no message."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:limit]
