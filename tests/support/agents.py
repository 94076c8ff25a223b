"""Builders for the agent under test: real registry and tools, a chosen model, a real checkpointer."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from psycopg_pool import AsyncConnectionPool

from graph.builder import build_graph
from graph.context import AgentDeps, Guards, Models, RunContext
from handrail.saver import HandrailSaver
from llm.offline import OfflineChatModel
from llm.usage import PRICES
from tools.gate import ApprovalGate, InProcessApprovals
from tools.registry import Registry, builtin_registry
from tools.resources import SmtpConfig, ToolResources


def make_deps(
    pool: AsyncConnectionPool | None,
    *,
    planner: BaseChatModel | None = None,
    executor: BaseChatModel | None = None,
    synthesizer: BaseChatModel | None = None,
    registry: Registry | None = None,
    smtp: SmtpConfig | None = None,
    approvals: ApprovalGate | None = None,
    guards: Guards | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    **limits: Any,
) -> AgentDeps:
    """In-process, the test is the reviewer: its resume value is the decision unless a gate is given."""
    offline = OfflineChatModel()
    return AgentDeps(
        models=Models(planner=planner or offline, executor=executor or offline, synthesizer=synthesizer or offline),
        registry=registry or builtin_registry(),
        tool_resources=ToolResources(pool=pool, smtp=smtp) if pool is not None else None,
        defaults=RunContext(**limits),
        approvals=approvals or InProcessApprovals(),
        guards=guards or Guards(),
        prices={**PRICES, **(prices or {})},
    )


def make_graph(pool: AsyncConnectionPool, deps: AgentDeps | None = None, **kwargs: Any) -> Any:
    return build_graph(deps or make_deps(pool), checkpointer=HandrailSaver(pool), **kwargs)  # type: ignore[arg-type]


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}
