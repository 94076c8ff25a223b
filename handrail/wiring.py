"""Builds the agent's dependencies from settings: the models per role, the tools and their resources."""

from __future__ import annotations

import dataclasses

from langchain_core.language_models import BaseChatModel

from graph.context import AgentDeps, Guards, Models, RunContext, ToolObserver
from handrail.errors import ConfigurationError
from handrail.settings import Settings
from llm.factory import make_chat_model
from llm.usage import PRICES
from tools.gate import ApprovalGate, NoApprovalLedger
from tools.registry import Registry, builtin_registry
from tools.resources import ConnectionSource, SmtpConfig, ToolResources


def models_from_settings(settings: Settings) -> Models:
    def build(role: str, spec: str) -> BaseChatModel:
        try:
            return make_chat_model(
                spec,
                base_url=settings.model_base_url,
                api_key=settings.model_api_key.get_secret_value() if settings.model_api_key else None,
                timeout_s=settings.model_timeout_s,
                max_retries=settings.model_max_retries,
            )
        except ValueError as exc:
            raise ConfigurationError(f"{role.upper()}_MODEL: {exc}") from exc

    return Models(
        planner=build("planner", settings.planner_model),
        executor=build("executor", settings.executor_model),
        synthesizer=build("synth", settings.synth_model),
    )


def default_context(settings: Settings, user_id: str = "anonymous") -> RunContext:
    return RunContext(
        user_id=user_id,
        max_steps=settings.max_steps,
        max_replans=settings.max_replans,
        tool_timeout_s=settings.tool_timeout_s,
        run_timeout_s=settings.run_timeout_s,
        max_tokens=settings.run_max_tokens,
        max_cost_usd=settings.run_max_cost_usd,
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


def build_deps(
    settings: Settings,
    pool: ConnectionSource,
    *,
    approvals: ApprovalGate | None = None,
    models: Models | None = None,
    registry: Registry | None = None,
    observe_tool: ToolObserver | None = None,
    guards: Guards | None = None,
) -> AgentDeps:
    """`approvals` is the gate sensitive calls must pass; none given, they never run (fail closed)."""
    registry = registry or builtin_registry()
    unknown = sorted(set(settings.tools_enabled) - set(registry.names()))
    if unknown:
        raise ConfigurationError(
            f"TOOLS_ENABLED names {', '.join(unknown)}, which no tool module declares; "
            f"registered tools: {', '.join(registry.names())}"
        )
    return AgentDeps(
        models=models or models_from_settings(settings),
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
    )
