"""The tool registry: which tools exist, what they accept, and how a proposed call is validated."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.base import ToolSpec


@dataclass(frozen=True)
class CallCheck:
    """The outcome of validating a proposed call: the parsed arguments, or why it was refused."""

    spec: ToolSpec[Any] | None
    args: BaseModel | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class Registry:
    """An immutable set of tools, built at start-up from the modules that declare them."""

    def __init__(self, specs: Iterable[ToolSpec[Any]]) -> None:
        self._specs: dict[str, ToolSpec[Any]] = {}
        self._catalog: list[dict[str, Any]] | None = None
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"two tools are named {spec.name!r}; tool names must be unique")
            self._specs[spec.name] = spec

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> Registry:
        """Collect every `@tool`-declared spec found at the top level of the given modules."""
        return cls(v for m in modules for v in vars(m).values() if isinstance(v, ToolSpec))

    def specs(self) -> list[ToolSpec[Any]]:
        return [self._specs[n] for n in self.names()]

    def get(self, name: str) -> ToolSpec[Any] | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def catalog(self) -> list[dict[str, Any]]:
        """What the planner is shown: every tool's name, description and argument schema. Built once:
        generating the JSON schemas was 4% of the server's CPU when it was done for every plan. Read-only."""
        if self._catalog is None:
            self._catalog = [self._specs[n].describe() for n in self.names()]
        return self._catalog

    def check(self, name: str, args: Any) -> CallCheck:
        """Validate a proposed call against the registry. Never raises."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self.names())
            return CallCheck(None, None, f"unknown tool {name!r}; available tools: {known}")
        if not isinstance(args, dict):
            return CallCheck(spec, None, f"arguments of {name} must be an object, got {type(args).__name__}")
        try:
            return CallCheck(spec, spec.args_schema.model_validate(args), None)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return CallCheck(spec, None, f"invalid arguments for {name}: {problems}")


def builtin_registry() -> Registry:
    """The tools Handrail ships with."""
    from tools import calc, clock, docs, email, memory, tickets

    return Registry.from_modules([docs, calc, clock, tickets, email, memory])
