"""Builds the agent's dependencies from settings: the models per role, the tools and their resources."""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.cache.base import BaseCache
from langgraph.types import RetryPolicy

from graph.context import AgentDeps, Guards, Models, RunContext, ToolObserver
from guardrails.escalation import Policy as EscalationPolicy
from handrail.errors import ConfigurationError
from handrail.metrics import Metrics
from handrail.settings import Settings
from llm.breaker import Breakers, MemoryStore
from llm.factory import make_chat_model
from llm.resilience import ChainObserver, ModelChain, ModelLink, RetrySettings
from llm.usage import PRICES
from tools.breaker import ToolBreakers
from tools.gate import ApprovalGate, NoApprovalLedger
from tools.handoff_gate import HandoffLedger, NoHandoffLedger
from tools.registry import Registry, builtin_registry
from tools.resources import ConnectionSource, SmtpConfig, ToolResources
from tools.runner import ToolResilience


def models_from_settings(
    settings: Settings, *, breakers: Breakers | None = None, observer: ChainObserver | None = None
) -> Models:
    """Each role's chain: its model, then its *_FALLBACK_MODELS, retried and circuit-broken (llm/resilience.py).
    Without shared `breakers` (the service passes them), each process keeps its own."""
    # Handrail retries (MODEL_MAX_RETRIES, with Retry-After, counted by the breaker and the metrics); the
    # provider client must not retry too, or the attempts multiply (3 x 3 = 9 requests for one call).
    retry = RetrySettings(
        attempts=settings.model_max_retries + 1,
        backoff_s=settings.model_retry_backoff_s,
        max_wait_s=settings.model_retry_max_wait_s,
    )
    breakers = breakers or Breakers(
        MemoryStore(), failures=settings.breaker_failures, reset_s=settings.breaker_reset_s, refresh_s=0
    )

    def build(setting: str, spec: str) -> ModelLink:
        try:
            model = make_chat_model(
                spec,
                base_url=settings.model_base_url,
                api_key=settings.model_api_key.get_secret_value() if settings.model_api_key else None,
                timeout_s=settings.model_timeout_s,
                max_retries=0,
            )
        except ValueError as exc:
            raise ConfigurationError(f"{setting}: {exc}") from exc
        return ModelLink(spec.strip(), model)

    def chain(role: str, prefix: str, primary: str, fallbacks: list[str]) -> ModelChain:
        links = [build(f"{prefix}_MODEL", primary)]
        links += [build(f"{prefix}_FALLBACK_MODELS", spec) for spec in fallbacks]
        return ModelChain(role, tuple(links), retry, breakers, observer)

    return Models(
        planner=chain("planner", "PLANNER", settings.planner_model, settings.planner_fallback_models),
        executor=chain("executor", "EXECUTOR", settings.executor_model, settings.executor_fallback_models),
        synthesizer=chain("synthesizer", "SYNTH", settings.synth_model, settings.synth_fallback_models),
        sentiment=(
            chain("sentiment", "HANDOFF_SENTIMENT", settings.handoff_sentiment_model, [])
            if settings.handoff_sentiment_model
            else None
        ),
    )


def model_specs(settings: Settings) -> list[str]:
    """Every provider model the settings name (the offline model has no breaker worth showing)."""
    specs = [
        settings.planner_model,
        settings.executor_model,
        settings.synth_model,
        *settings.planner_fallback_models,
        *settings.executor_fallback_models,
        *settings.synth_fallback_models,
        *([settings.handoff_sentiment_model] if settings.handoff_sentiment_model else []),
    ]
    return sorted({s.strip() for s in specs if s.strip().lower() != "offline"})


class ModelMetrics:
    """What the model chains tell the metrics (ChainObserver)."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def retried(self, model: str, kind: str) -> None:
        self._m.model_retries.labels(model, kind).inc()

    def fell_back(self, role: str, model: str) -> None:
        self._m.model_fallbacks.labels(role, model).inc()

    def exhausted(self, role: str) -> None:
        self._m.model_chain_failures.labels(role).inc()


def default_context(settings: Settings, user_id: str = "anonymous") -> RunContext:
    return RunContext(
        user_id=user_id,
        max_steps=settings.max_steps,
        max_replans=settings.max_replans,
        tool_timeout_s=settings.tool_timeout_s,
        run_timeout_s=settings.run_timeout_s,
        max_tokens=settings.run_max_tokens,
        max_cost_usd=settings.run_max_cost_usd,
        max_parallel_steps=settings.max_parallel_steps,
        context_max_turns=settings.context_max_turns,
        context_max_tokens=settings.context_max_tokens,
        tools_enabled=frozenset(settings.tools_enabled) if settings.tools_enabled else None,
    )


def smtp_from_settings(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        sender=settings.smtp_from,
    )


def tool_resilience_from_settings(
    settings: Settings, *, cache: BaseCache[Any] | None = None, metrics: Metrics | None = None
) -> ToolResilience:
    """Retries (TOOL_MAX_ATTEMPTS, TOOL_RETRY_BACKOFF_S), this process's breakers (TOOL_BREAKER_*), and the
    tool cache when one is given (the service gives one when REDIS_URL is set and TOOL_CACHE_ENABLED)."""
    retry = RetryPolicy(
        initial_interval=settings.tool_retry_backoff_s,
        backoff_factor=2.0,
        max_interval=2.0,
        max_attempts=settings.tool_max_attempts,
        jitter=True,
        retry_on=Exception,  # timeouts and crashes alike; the runner retries only idempotent tools
    )
    m = metrics
    breakers = ToolBreakers(
        settings.tool_breaker_failures,
        settings.tool_breaker_reset_s,
        on_change=(lambda tool, state: m.tool_breaker_transitions.labels(tool, state).inc()) if m else None,
    )
    return ToolResilience(
        retry=retry if settings.tool_max_attempts > 1 else None,
        breakers=breakers,  # kept when off (TOOL_BREAKER_FAILURES=0) so /ok can always ask it: it admits every call
        cache=cache if settings.tool_cache_enabled else None,
        on_cache=(lambda tool, result: m.tool_cache.labels(tool, result).inc()) if m else None,
        on_retry=(lambda tool: m.tool_retries.labels(tool).inc()) if m else None,
        on_refusal=(lambda tool: m.tool_breaker_refusals.labels(tool).inc()) if m else None,
    )


def build_deps(
    settings: Settings,
    pool: ConnectionSource,
    *,
    approvals: ApprovalGate | None = None,
    models: Models | None = None,
    registry: Registry | None = None,
    observe_tool: ToolObserver | None = None,
    guards: Guards | None = None,
    tool_resilience: ToolResilience | None = None,
    breakers: Breakers | None = None,
    model_observer: ChainObserver | None = None,
    handoffs: HandoffLedger | None = None,
) -> AgentDeps:
    """`approvals` is the gate sensitive calls must pass; none given, they never run (fail closed).
    `breakers` are the models' circuit breakers (shared by the service; else this process's own)."""
    registry = registry or builtin_registry()
    unknown = sorted(set(settings.tools_enabled) - set(registry.names()))
    if unknown:
        raise ConfigurationError(
            f"TOOLS_ENABLED names {', '.join(unknown)}, which no tool module declares; "
            f"registered tools: {', '.join(registry.names())}"
        )
    return AgentDeps(
        models=models or models_from_settings(settings, breakers=breakers, observer=model_observer),
        registry=registry,
        tool_resources=ToolResources(pool=pool, smtp=smtp_from_settings(settings)),
        defaults=default_context(settings),
        approvals=approvals or NoApprovalLedger(),
        observe_tool=observe_tool,
        prices={**PRICES, **settings.model_prices},
        guards=dataclasses.replace(
            guards or Guards(),
            max_input_chars=settings.max_message_chars,
            max_tool_output_chars=settings.max_tool_output_chars,
        ),
        tool_resilience=tool_resilience or tool_resilience_from_settings(settings),
        state_max_messages=settings.state_max_messages,
        context_tokenizer=settings.context_tokenizer,
        escalation=escalation_policy(settings),
        handoffs=handoffs or NoHandoffLedger(),
    )


def escalation_policy(settings: Settings) -> EscalationPolicy:
    """When conversations go to a person (HANDOFF_*), as guardrails/escalation.py reads it."""
    return EscalationPolicy(
        signals=dict(settings.handoff_signals),
        sentiment_threshold=settings.handoff_sentiment_threshold,
        min_confidence=settings.handoff_min_confidence,
        failure_streak=settings.handoff_failure_streak,
        high_stakes_tools=frozenset(settings.handoff_high_stakes_tools),
        guardrails=tuple(settings.handoff_guardrails),
        team=settings.handoff_team,
    )
