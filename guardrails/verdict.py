"""The one answer every guardrail gives: pass, or blocked by a named rule, with what passes on.

Every layer is a module with `check(...) -> Verdict`, so a classifier can later stand behind the
same seam as today's rules. `guardrail` ("<layer>.<rule>") is the name clients, metrics and the
audit log see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    layer: str
    rule: str | None = None
    """The rule that blocked; None when the check passed."""
    detail: str | None = None
    """Why, in words a user or an operator can act on."""
    value: Any = None
    """What passes on when the check transforms its input (redacted, fenced, corrected); else None."""
    flags: tuple[str, ...] = ()
    """Rules that fired without blocking (a fenced instruction, a redaction): recorded, not refused."""

    @property
    def blocked(self) -> bool:
        return self.rule is not None

    @property
    def guardrail(self) -> str | None:
        return f"{self.layer}.{self.rule}" if self.rule is not None else None

    @classmethod
    def allow(cls, layer: str, value: Any = None, flags: tuple[str, ...] = ()) -> Verdict:
        return cls(layer, value=value, flags=flags)

    @classmethod
    def block(cls, layer: str, rule: str, detail: str) -> Verdict:
        return cls(layer, rule=rule, detail=detail)
