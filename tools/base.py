"""The tool contract: what a tool declares, what it receives and what it returns.

Tools never raise into the graph. Whatever happens inside, the runner turns it into a
``ToolResult`` the model can read and recover from.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from langgraph.store.base import BaseStore
from pydantic import BaseModel, ConfigDict

Risk = Literal["read", "write", "dangerous"]


class ToolResult(BaseModel):
    """The only thing a tool hands back: success with data, or failure with a readable error."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    data: Any = None
    error: str | None = None
    retryable: bool = False
    """A failure the tool knows to be transient (a dependency's 503, a lock timeout): the runner may try
    an idempotent tool again. A plain failure is an answer ("no ticket 42") and is never retried."""

    @classmethod
    def success(cls, data: Any) -> ToolResult:
        return cls(ok=True, data=data)

    @classmethod
    def failure(cls, error: str, *, retryable: bool = False) -> ToolResult:
        return cls(ok=False, error=error, retryable=retryable)


@dataclass(frozen=True)
class ToolEnv:
    """What the runtime gives a tool beyond its arguments; never visible to the model.

    ``idempotency_key`` is stable across replays, retries and crashes of the same planned call,
    so a tool with side effects can make a repeated call a no-op.
    """

    idempotency_key: str
    user_id: str = "anonymous"
    thread_id: str | None = None
    resources: Any = None  # ToolResources (pool, SMTP settings); typed loosely to keep tools/ import-free
    extras: dict[str, Any] = field(default_factory=dict)
    store: BaseStore | None = None
    """The graph's long-term store (LangGraph's `runtime.store`), or None when it was compiled without one."""


def call_key(tool_name: str, args: dict[str, Any]) -> str:
    """Identity of a call by what it does: same tool, same arguments."""
    return f"{tool_name}:{json.dumps(args, sort_keys=True, default=str)}"


A = TypeVar("A", bound=BaseModel)
ToolFn = Callable[[A, ToolEnv], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolSpec(Generic[A]):
    """A tool's declaration. The description is the model's spec: it is written for the model."""

    name: str
    description: str
    args_schema: type[A]
    fn: ToolFn[A]
    risk: Risk = "read"
    requires_approval: bool = False
    timeout_s: float = 10.0
    max_calls_per_run: int = 5
    idempotent: bool = True
    preview: Callable[[A], str] | None = None
    cache_ttl_s: float | None = None
    """How long a successful result may be served again for the same arguments (None: never cached).
    Only for read tools that are idempotent; whole seconds, rounded up."""
    cache_per_user: bool = False
    """Whether the result depends on who asks (their orders, their account): then one user's cached
    result is never served to another."""
    retains: bool = False
    """Whether what the tool is given outlives the run (long-term memory): the tool policy then refuses
    arguments holding a card number, SSN or secret (guardrails.retention)."""

    def __post_init__(self) -> None:
        if self.cache_ttl_s is not None and (self.risk != "read" or not self.idempotent or self.cache_ttl_s <= 0):
            raise ValueError(
                f"tool {self.name}: cache_ttl_s needs risk='read', idempotent=True and a positive TTL; "
                "a tool with effects must run every time it is called"
            )

    @property
    def cacheable(self) -> bool:
        return self.cache_ttl_s is not None

    def describe(self) -> dict[str, Any]:
        """The catalogue entry the planner sees (name, description, JSON schema of arguments)."""
        return {
            "name": self.name,
            "description": self.description,
            "args_schema": self.args_schema.model_json_schema(),
            "risk": self.risk,
            "requires_approval": self.requires_approval,
        }

    def openai_schema(self) -> dict[str, Any]:
        """The tool as a function schema, for `bind_tools`."""
        parameters = self.args_schema.model_json_schema()
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }

    def render_preview(self, args: A) -> str:
        """A one-line, human-readable account of what the call will do, for a reviewer."""
        if self.preview is not None:
            return self.preview(args)
        shown = ", ".join(f"{k}={v!r}" for k, v in args.model_dump().items())
        return f"{self.name}({shown})"


def tool(
    *,
    name: str | None = None,
    args: type[A],
    risk: Risk = "read",
    requires_approval: bool = False,
    timeout_s: float = 10.0,
    max_calls_per_run: int = 5,
    idempotent: bool = True,
    preview: Callable[[A], str] | None = None,
    cache_ttl_s: float | None = None,
    cache_per_user: bool = False,
    retains: bool = False,
) -> Callable[[ToolFn[A]], ToolSpec[A]]:
    """Declare a tool: ``@tool(args=MyArgs, risk="write")`` over ``async def f(args, env)``.

    The function's docstring becomes the description the model reads. Decorating only builds a
    ``ToolSpec``; nothing is registered at import. ``Registry.from_modules`` collects the specs.
    """

    def wrap(fn: ToolFn[A]) -> ToolSpec[A]:
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"tool {fn.__name__} needs a docstring: it is the model's spec")
        return ToolSpec(
            name=name or fn.__name__,
            description=" ".join(doc.split()),
            args_schema=args,
            fn=fn,
            risk=risk,
            requires_approval=requires_approval,
            timeout_s=timeout_s,
            max_calls_per_run=max_calls_per_run,
            idempotent=idempotent,
            preview=preview,
            cache_ttl_s=cache_ttl_s,
            cache_per_user=cache_per_user,
            retains=retains,
        )

    return wrap
