"""Structured JSON logs: one event per line, with trace, thread and run ids bound through contextvars."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from guardrails import pii

thread_id_var: ContextVar[str | None] = ContextVar("thread_id", default=None)
run_id_var: ContextVar[str | None] = ContextVar("run_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_SECRET_KEYS = re.compile(r"(password|secret|api_key|token|authorization|dsn)", re.IGNORECASE)


def redact(value: Any) -> Any:
    """Mask personal data and drop secret-looking fields: logs and traces must not carry PII or credentials.

    An email address keeps its first character and domain (a***@example.com), so an operator can still tell
    deliveries apart; phone numbers, card numbers, SSNs and keys in text become markers (guardrails.pii).
    """
    if isinstance(value, str):
        if "@" in value:
            value = pii.EMAIL.sub(_mask_email, value)
        return pii.redact(value)[0]
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEYS.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _mask_email(match: re.Match[str]) -> str:
    local, _, domain = match.group().partition("@")
    return f"{local[0]}***@{domain}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key, var in (("trace_id", trace_id_var), ("thread_id", thread_id_var), ("run_id", run_id_var)):
            if (value := var.get()) is not None:
                event[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = "***" if _SECRET_KEYS.search(key) else redact(value)
        if record.exc_info:
            event["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
