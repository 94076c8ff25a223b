"""Resources the side-effecting tools use: a Postgres pool and, optionally, an SMTP server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tools.base import ToolEnv


class ConnectionSource(Protocol):
    """Anything with psycopg_pool's `connection()`: the service's pool, or a lazily opened one."""

    def connection(self) -> Any: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "handrail@localhost"


@dataclass(frozen=True)
class ToolResources:
    pool: ConnectionSource
    smtp: SmtpConfig | None = None


def resources_of(env: ToolEnv) -> ToolResources | None:
    """The resources the runtime attached, or None when the tool runs without a database."""
    res = env.resources
    return res if isinstance(res, ToolResources) else None
