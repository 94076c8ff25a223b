"""Every long-lived resource of a Handrail process, opened together and closed in reverse order."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from langgraph.store.postgres.aio import AsyncPostgresStore

from graph.builder import GRAPH_ID, build_graph
from graph.context import AgentDeps, Guards
from handrail.approvals import PostgresApprovalGate
from handrail.assistants import register_graphs
from handrail.audit import PostgresAudit
from handrail.auth import KeyRing
from handrail.breakers import shared_breakers
from handrail.bus import Bus, PostgresBus, RedisBus
from handrail.cache import AsyncRedisCache
from handrail.crons import scheduler
from handrail.db import DatabaseTarget, Pool, open_pool
from handrail.errors import ConfigurationError
from handrail.handoffs import PostgresHandoffLedger
from handrail.health import Health
from handrail.metrics import Metrics
from handrail.migrate import migrate
from handrail.ratelimit import RateLimiter
from handrail.runs.local_ends import LocalEnds
from handrail.runs.summary import observe_tool, run_spent
from handrail.saver import HandrailSaver
from handrail.serialize import MessageJson
from handrail.settings import Settings
from handrail.spend import DailySpendGate, SpendLedger
from handrail.tool_switches import ToolSwitches
from handrail.tracing import Tracer, open_tracer
from handrail.webhooks import WebhookSender
from handrail.wiring import ModelMetrics, build_deps, model_specs, tool_resilience_from_settings
from llm.breaker import Breakers, MemoryStore
from tools.breaker import ToolBreakers
from tools.registry import Registry, builtin_registry

logger = logging.getLogger("handrail.services")


@dataclass
class Services:
    settings: Settings
    pool: Pool
    database: DatabaseTarget
    bus: Bus
    saver: HandrailSaver
    store: AsyncPostgresStore
    deps: AgentDeps
    graphs: dict[str, Any]
    keyring: KeyRing
    http: httpx.AsyncClient
    webhooks: WebhookSender
    tool_switches: ToolSwitches
    redis: Any = None
    # The worker in this process, when it runs any (WORKERS > 0): run creation starts runs on it directly.
    local_worker: Any = None
    ends: LocalEnds = field(default_factory=LocalEnds)
    message_json: MessageJson = field(default_factory=MessageJson)
    metrics: Metrics = field(default_factory=Metrics)
    tracer: Tracer | None = None  # Langfuse, when its keys are set
    # Set by open_services; None only in test doubles. Both are no-ops while their settings are 0.
    spend: SpendLedger | None = None
    rate_limiter: RateLimiter | None = None
    # This process's tool breakers (`open_tool_breakers()`: the tools not being called now) and the tool
    # result cache (`cache_degraded()`: why it is being skipped; None when no Redis, so no cache).
    tool_breakers: ToolBreakers = field(default_factory=lambda: ToolBreakers(0))
    tool_cache: AsyncRedisCache[Any] | None = None
    # The models' circuit breakers: `open_breakers()` lists the models calls skip now (shared state,
    # at most BREAKER_REFRESH_S old; `await breakers.refresh()` reads it now).
    breakers: Breakers = field(default_factory=lambda: Breakers(MemoryStore()))
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def graph(self) -> Any:
        return self.graphs[GRAPH_ID]

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """A background task that is awaited (or cancelled) at shutdown, never silently dropped."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("background_task.failed", extra={"task": task.get_name()}, exc_info=exc)


async def delete_thread(services: Services, thread_id: str) -> None:
    """A thread and everything it owns: checkpoints, runs, events, approvals."""
    await services.saver.adelete_thread(thread_id)
    async with services.pool.connection() as conn:
        await conn.execute("DELETE FROM threads WHERE thread_id = %s", (thread_id,))


def registry_from_settings(settings: Settings) -> Registry:
    """The built-in tools plus those in TOOL_MODULES (dotted module paths)."""
    extra = Registry.from_modules(importlib.import_module(name) for name in settings.tool_modules)
    return Registry([*builtin_registry().specs(), *extra.specs()])


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        pool, target = await stack.enter_async_context(open_pool(settings))
        await migrate(pool)
        metrics = Metrics()
        health = Health(metrics)  # kept live by the bus: /ok answers from it
        redis_client = None
        if settings.redis_url is not None:
            import redis.asyncio as aioredis

            redis_client = aioredis.from_url(settings.redis_url.get_secret_value())
            await redis_client.ping()
            stack.push_async_callback(redis_client.aclose)
            bus: Bus = RedisBus(
                redis_client, settings.redis_prefix, target.dsn, pool, health=health, probe_s=settings.redis_probe_s
            )
        else:
            bus = PostgresBus(target.dsn, pool, health=health)
        await bus.start()
        stack.push_async_callback(bus.close)
        saver = HandrailSaver(pool)  # type: ignore[arg-type]
        stack.push_async_callback(saver.settle_all)  # before the pool closes: no held write is dropped
        # Items put with a `ttl` (minutes) expire: reads skip them, and a sweeper deletes them.
        store = AsyncPostgresStore(
            pool,  # type: ignore[arg-type]
            ttl={"refresh_on_read": True, "omit_expired": True, "sweep_interval_minutes": 5},
        )
        await store.start_ttl_sweeper()
        stack.push_async_callback(store.stop_ttl_sweeper)
        # Read once now: a process never runs a tool before it knows whether an operator switched it off.
        tool_switches = ToolSwitches(
            pool,
            refresh_s=settings.tool_switch_refresh_s,
            on_refusal=lambda tool: metrics.tool_switch_refusals.labels(tool).inc(),
        )
        await tool_switches.refresh()
        stack.push_async_callback(tool_switches.close)
        tracer = open_tracer(settings)
        if tracer is not None:
            stack.push_async_callback(tracer.close)  # flushes what is queued; after the runs have stopped
        spend = SpendLedger(pool, redis_client, settings.redis_prefix, metrics=metrics)
        guards = Guards(
            switches=tool_switches,
            audit=PostgresAudit(pool),
            spend=DailySpendGate(spend, settings.user_daily_budget_usd) if settings.user_daily_budget_usd > 0 else None,
            run_spent=run_spent,
            on_event=lambda name, blocked: metrics.guardrails.labels(name, "blocked" if blocked else "changed").inc(),
        )
        tool_cache: AsyncRedisCache[Any] | None = None
        if redis_client is not None and settings.tool_cache_enabled:
            tool_cache = AsyncRedisCache(redis_client, prefix=f"{settings.redis_prefix}cache:")
        resilience = tool_resilience_from_settings(settings, cache=tool_cache, metrics=metrics)
        # The models' circuit breakers, shared by every replica (Redis, else Postgres).
        model_breakers = shared_breakers(settings, pool, redis_client, models=model_specs(settings), metrics=metrics)
        deps = build_deps(
            settings,
            pool,
            registry=registry_from_settings(settings),
            approvals=PostgresApprovalGate(pool),
            handoffs=PostgresHandoffLedger(pool),
            observe_tool=observe_tool(metrics),
            guards=guards,
            tool_resilience=resilience,
            breakers=model_breakers,
            model_observer=ModelMetrics(metrics),
        )
        graph = build_graph(deps, checkpointer=saver, store=store, node_timeout_s=settings.node_timeout_s)
        await register_graphs(pool, [GRAPH_ID])
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.webhook_timeout_s))
        keyring = await KeyRing.load(settings, pool)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        if settings.approval_webhook_url and not secret:
            raise ConfigurationError("APPROVAL_WEBHOOK_URL is set but WEBHOOK_SECRET is not; webhooks must be signed")
        if settings.handoff_webhook_url and not secret:
            raise ConfigurationError("HANDOFF_WEBHOOK_URL is set but WEBHOOK_SECRET is not; webhooks must be signed")
        webhooks = WebhookSender(
            pool,
            http,
            secret=secret,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            on_failure=lambda kind: metrics.webhook_failures.labels(kind).inc(),
        )
        services = Services(
            settings=settings,
            pool=pool,
            database=target,
            bus=bus,
            saver=saver,
            store=store,
            deps=deps,
            graphs={GRAPH_ID: graph},
            keyring=keyring,
            http=http,
            webhooks=webhooks,
            tool_switches=tool_switches,
            tool_breakers=resilience.breakers or ToolBreakers(0),
            tool_cache=tool_cache,
            redis=redis_client,
            metrics=metrics,
            tracer=tracer,
            spend=spend,
            rate_limiter=RateLimiter(
                settings.rate_limit_per_minute, redis_client, settings.redis_prefix, metrics=metrics
            ),
            breakers=model_breakers,
        )
        logger.info(
            "services.ready",
            extra={
                "database": target.kind,
                "where": target.where,
                "bus": bus.kind,
                "auth": "dev-mode" if keyring.dev_mode else "api-keys",
            },
        )
        services.spawn(scheduler(services), name="cron-scheduler")
        try:
            yield services
        finally:
            for task in list(services.tasks):
                task.cancel()
            await asyncio.gather(*services.tasks, return_exceptions=True)
