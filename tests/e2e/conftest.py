"""The real Handrail server (uvicorn, in this event loop) on the session's database, with API keys,
signed approval webhooks to a local receiver, short leases, and the probe tool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph_sdk import get_client

from handrail.settings import Settings
from server import create_app
from tests.support.http import free_port, serving
from tests.support.probe_tools import PROBE_TABLE
from tests.support.webhook_receiver import Receiver, running_receiver

WEBHOOK_SECRET = "whsec-test"
KEYS = {"alice": "alice-key", "bob": "bob-key", "admin": "admin-key"}


def e2e_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "port": free_port(),
        "workers": 3,
        "worker_poll_s": 0.2,
        "heartbeat_s": 0.3,
        "run_lease_s": 2.0,
        "api_keys": f"{KEYS['alice']}:alice,{KEYS['bob']}:bob",
        "admin_api_keys": f"{KEYS['admin']}:admin",
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_allow_private": True,
        "webhook_backoff_s": 0.05,
        "tool_modules": ["tests.support.probe_tools"],
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="session")
async def approval_receiver() -> AsyncIterator[Receiver]:
    async with running_receiver(secret=WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture(scope="session")
async def base_url(database_url: str, pool: Any, approval_receiver: Receiver) -> AsyncIterator[str]:
    async with pool.connection() as conn:
        await conn.execute(PROBE_TABLE)
    settings = e2e_settings(database_url, approval_webhook_url=approval_receiver.url)
    async with serving(create_app(settings), port=settings.port) as url:
        yield url


@pytest.fixture
def alice(base_url: str) -> Any:
    return get_client(url=base_url, api_key=KEYS["alice"])


@pytest.fixture
def bob(base_url: str) -> Any:
    return get_client(url=base_url, api_key=KEYS["bob"])


@pytest.fixture
def admin(base_url: str) -> Any:
    return get_client(url=base_url, api_key=KEYS["admin"])
