"""Per-user rate limits and spend budgets, over HTTP on real servers: what a refused client is told (status,
Retry-After, X-RateLimit-*, the JSON body), that other users are not affected, and that a refused run
leaves nothing behind. Also what the official SDK does with a 429: it does not retry it (see the report
in test_the_sdk_raises_a_429_at_once_without_retrying)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from langgraph_sdk import get_client
from langgraph_sdk.errors import InternalServerError, PermissionDeniedError, RateLimitError

from handrail.ratelimit import RateLimiter
from handrail.spend import SpendLedger
from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import user
from tests.support.http import free_port, serving
from tests.support.servers import redis_url

T = TypeVar("T")


@asynccontextmanager
async def limited_server(database_url: str, backend: str, **overrides: Any) -> AsyncIterator[tuple[str, FastAPI]]:
    """A server of its own, on Redis (a fresh key prefix: what it counts expires within 60 s) or without."""
    redis = {"redis_url": redis_url(), "redis_prefix": f"handrail-test-{uuid.uuid4().hex[:8]}:"}
    settings = e2e_settings(database_url, workers=1, **(redis if backend == "redis" else {}), **overrides)
    app = create_app(settings)
    async with serving(app, port=settings.port) as url:
        yield url, app


def users() -> tuple[dict[str, str], str]:
    """Two fresh users (name → key), and the API_KEYS value that declares them."""
    keys = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("carol", "dave")}
    return keys, ",".join(f"{key}:{key}-id" for key in keys.values())


async def counted(url: str, backend: str) -> float:
    text = (await httpx.AsyncClient(base_url=url).get("/metrics")).text
    found = re.search(rf'^handrail_rate_limited_requests_total{{backend="{backend}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def runs_of(pool: Any, thread_id: str) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) AS n FROM runs WHERE thread_id = %s", (thread_id,))).fetchone()
    return int(row["n"])


async def honouring_retry_after(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """What an SDK user has to write: the SDK raises RateLimitError at once, and the wait is in its response."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except RateLimitError as refused:
            await asyncio.sleep(int(refused.response.headers["retry-after"]))
    return await call()


@pytest.mark.parametrize("backend", ["redis", "local"])
async def test_a_user_over_the_limit_gets_429_with_retry_after_while_another_is_served(database_url, backend):
    async with (
        limited_server(database_url, backend, rate_limit_per_minute=3) as (url, _),
        httpx.AsyncClient(base_url=url) as http,
    ):
        alice, bob = {"x-api-key": KEYS["alice"]}, {"x-api-key": KEYS["bob"]}
        created = await http.post("/threads", json={}, headers=alice)
        tid = created.json()["thread_id"]
        read = await http.get(f"/threads/{tid}", headers=alice)
        deleted = await http.delete(f"/threads/{tid}", headers=alice)  # a route that returns its own Response
        refused = await http.post("/threads", json={}, headers=alice)
        served = await http.post("/threads", json={}, headers=bob)
        open_routes = [await http.get(path, headers=alice) for path in ("/ok", "/info", "/metrics") * 2]

        assert [r.status_code for r in (created, read, deleted)] == [200, 200, 204]
        assert [r.headers["x-ratelimit-remaining"] for r in (created, read, deleted)] == ["2", "1", "0"]
        assert all(r.headers["x-ratelimit-limit"] == "3" for r in (created, read, deleted))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["x-ratelimit-reset"] == refused.headers["retry-after"]
        detail = refused.json()["detail"]
        assert "3 requests per minute" in detail and "RATE_LIMIT_PER_MINUTE" in detail
        assert served.status_code == 200 and served.headers["x-ratelimit-remaining"] == "2", "bob has his own window"
        assert all(r.status_code == 200 and "x-ratelimit-limit" not in r.headers for r in open_routes)
        assert await counted(url, backend) == 1


async def test_the_sdk_raises_a_429_at_once_without_retrying(database_url):
    """langgraph-sdk 0.4.14: HttpClient.get/post/put/patch/delete call `_araise_for_status_typed` straight after
    the one request (langgraph_sdk/_async/http.py), which maps 429 to RateLimitError (errors.py); the transport's
    `retries=5` (client.py) retries failed connections only. 429 is retried only when a stream or a join
    reconnects to its Location, with its own backoff (1, 2, 4, 5, 5 s); Retry-After is never read."""
    async with limited_server(database_url, "redis", rate_limit_per_minute=1) as (url, _):
        alice = get_client(url=url, api_key=KEYS["alice"])
        await alice.threads.create()

        with pytest.raises(RateLimitError) as refused:
            await alice.threads.create()

        assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
        assert "RATE_LIMIT_PER_MINUTE" in str(refused.value)
        assert await counted(url, "redis") == 1, "the SDK sent the refused request once"


async def test_a_client_that_waits_retry_after_gets_through(database_url):
    async with limited_server(database_url, "redis", rate_limit_per_minute=1) as (url, app):
        services = app.state.services
        # The same limiter on a 2 s window instead of 60 s, so that the wait fits in a test.
        services.rate_limiter = RateLimiter(
            1, services.redis, services.settings.redis_prefix, metrics=services.metrics, window_s=2.0
        )
        alice = get_client(url=url, api_key=KEYS["alice"])
        await alice.threads.create()
        started = asyncio.get_running_loop().time()

        thread = await honouring_retry_after(alice.threads.create)

        assert thread["thread_id"]
        assert asyncio.get_running_loop().time() - started >= 1, "it was refused first, then waited"
        assert await counted(url, "redis") == 1


async def test_with_redis_down_the_limit_still_holds_and_nothing_fails(database_url):
    async with limited_server(database_url, "redis", rate_limit_per_minute=2) as (url, app):
        services = app.state.services
        dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        services.rate_limiter = RateLimiter(2, dead, "handrail-test:", metrics=services.metrics)
        async with httpx.AsyncClient(base_url=url, headers={"x-api-key": KEYS["alice"]}) as http:
            statuses = [(await http.post("/threads", json={})).status_code for _ in range(4)]
        await dead.aclose()

        assert statuses == [200, 200, 429, 429], "counted in this process: never unlimited, never a 5xx"
        assert await counted(url, "local") == 2


async def audit_rows(pool: Any, kind: str, thread_id: str | None = None) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT actor, detail FROM audit_log WHERE kind = %s AND (%s::uuid IS NULL OR thread_id = %s::uuid)",
            (kind, thread_id, thread_id),
        )
        return await cursor.fetchall()


async def test_a_user_over_the_daily_budget_is_refused_before_a_run_exists(database_url, pool):
    keys, api_keys = users()
    async with limited_server(database_url, "redis", api_keys=api_keys, user_daily_budget_usd=1.0) as (url, app):
        settings = app.state.services.settings
        redis = aioredis.from_url(redis_url())
        # Spend recorded by another replica (the offline model costs nothing): same database, same Redis.
        await SpendLedger(pool, redis, settings.redis_prefix).add(f"{keys['carol']}-id", 1.0)
        carol, dave = get_client(url=url, api_key=keys["carol"]), get_client(url=url, api_key=keys["dave"])
        tid = (await carol.threads.create())["thread_id"]

        with pytest.raises(RateLimitError) as refused:
            await carol.runs.create(tid, "agent", input=user("what is 6*7"))
        # runs.wait goes through the SDK's request_reconnect, which raises httpx's own error, not RateLimitError
        with pytest.raises(httpx.HTTPStatusError) as stateless:
            await carol.runs.wait(None, "agent", input=user("what is 6*7"))  # stateless: no thread made either
        answer = await dave.runs.wait(None, "agent", input=user("what is 6*7"))
        await redis.aclose()

        body = refused.value.body
        assert isinstance(body, dict)
        assert (body["guardrail"], body["blocked"], body["budget"]) == ("budget.user_daily", True, "user_daily")
        assert (body["spent_usd"], body["limit_usd"], body["setting"]) == (1.0, 1.0, "USER_DAILY_BUDGET_USD")
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        assert body["resets_at"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert abs(int(refused.value.response.headers["retry-after"]) - (midnight - now).total_seconds()) < 10
        assert "USER_DAILY_BUDGET_USD" in body["detail"] and body["resets_at"] in body["detail"]
        assert await runs_of(pool, tid) == 0
        (audited,) = await audit_rows(pool, "spend_refused", thread_id=tid)
        assert audited["actor"] == f"{keys['carol']}-id" and audited["detail"]["guardrail"] == "budget.user_daily"
        assert stateless.value.response.status_code == 429
        assert len(await carol.threads.search()) == 1, "the refused stateless run made no thread"
        assert answer["final_answer"], "another user is not affected"


async def test_the_hourly_breaker_refuses_everyone_until_an_admin_resets_it(database_url, pool):
    keys, api_keys = users()
    async with limited_server(database_url, "redis", api_keys=api_keys, global_hourly_budget_usd=1.0) as (url, app):
        settings = app.state.services.settings
        redis = aioredis.from_url(redis_url())
        await SpendLedger(pool, redis, settings.redis_prefix).add(f"{keys['dave']}-id", 1.0)
        await redis.aclose()
        carol = get_client(url=url, api_key=keys["carol"])
        admin = get_client(url=url, api_key=KEYS["admin"])
        tid = (await carol.threads.create())["thread_id"]

        with pytest.raises(InternalServerError) as refused:
            await carol.runs.create(tid, "agent", input=user("what is 6*7"))
        with pytest.raises(PermissionDeniedError):
            await carol.http.post("/admin/spend/reset", json=None)
        before = await admin.http.get("/admin/spend")
        after = await admin.http.post("/admin/spend/reset", json=None)
        run = await carol.runs.create(tid, "agent", input=user("what is 6*7"))

        assert refused.value.response.status_code == 503
        body = refused.value.body
        assert isinstance(body, dict)
        assert (body["guardrail"], body["blocked"], body["setting"]) == (
            "budget.global_hourly",
            True,
            "GLOBAL_HOURLY_BUDGET_USD",
        )
        assert body["spent_usd"] >= 1.0 and body["limit_usd"] == 1.0
        now = datetime.now(UTC)
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        assert body["resets_at"] == next_hour.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert abs(int(refused.value.response.headers["retry-after"]) - (next_hour - now).total_seconds()) < 10
        assert "POST /admin/spend/reset" in body["detail"]
        assert before["hour_total_usd"] >= 1.0 and before["limits"]["GLOBAL_HOURLY_BUDGET_USD"] == 1.0
        assert after["hour_total_usd"] == 0 and after["reset_by"] == "admin"
        assert after["hour_recorded_usd"] >= 1.0, "the spend stays on record"
        assert run["status"] in {"pending", "running", "success"}
        assert await runs_of(pool, tid) == 1, "only the run made after the reset"
        assert [r["detail"]["guardrail"] for r in await audit_rows(pool, "spend_refused", thread_id=tid)] == [
            "budget.global_hourly"
        ]
        assert any(r["actor"] == "admin" for r in await audit_rows(pool, "spend_reset"))
