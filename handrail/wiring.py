"""Builds the agent's dependencies from settings: the models per role, the tools and their resources."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from graph.context import AgentDeps, Models, RunContext, ToolObserver
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
) -> AgentDeps:
    """`approvals` is the gate sensitive calls must pass; none given, they never run (fail closed)."""
    return AgentDeps(
        models=models or models_from_settings(settings),
        registry=registry or builtin_registry(),
        tool_resources=ToolResources(pool=pool, smtp=smtp_from_settings(settings)),
        defaults=default_context(settings),
        approvals=approvals or NoApprovalLedger(),
        observe_tool=observe_tool,
        prices={**PRICES, **settings.model_prices},
    )
