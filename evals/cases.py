"""The eval case schema (issue 16) and the loader of every `evals/cases/*.yaml`.

A malformed file is refused whole, with a message naming the file, the case id and the field, so a
typo in a case never turns into a silently skipped or silently passing check.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CASES_DIR = Path(__file__).parent / "cases"

Category = Literal[
    "knowledge_base",
    "multi_tool",
    "approval",
    "impossible",
    "tool_failure",
    "limits",
    "multi_turn",
    "guardrail_block",
    "guardrail_benign",
    "handoff",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Outcome = Literal["answered", "paused", "blocked", "limit_reached", "failed", "handed_off"]
ToolsMatch = Literal["strict", "unordered", "subset"]

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The keys a run's `context` takes (graph/context.py RunContext, less user_id which comes from the key).
CONTEXT_KEYS = {
    "max_steps",
    "max_replans",
    "tool_timeout_s",
    "run_timeout_s",
    "max_tokens",
    "max_cost_usd",
    "tools_enabled",
    "response_format",
    "max_parallel_steps",
    "context_max_turns",
    "context_max_tokens",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Review(_Strict):
    """A reviewer's answer to one approval request."""

    decision: Literal["approve", "edit", "reject"]
    args: dict[str, Any] | None = None
    feedback: str | None = None

    @model_validator(mode="after")
    def _edit_has_args(self) -> Review:
        if self.decision == "edit" and not self.args:
            raise ValueError("an edit needs `args` (the arguments to run instead)")
        return self

    def body(self) -> dict[str, Any]:
        """The body of `POST /approvals/{id}`."""
        return self.model_dump(exclude_none=True)


class Expect(_Strict):
    """Checks on one turn; every one listed must hold."""

    tools: list[str] | None = None
    tools_match: ToolsMatch = "strict"
    approvals: int | None = Field(None, ge=0)
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    not_run: list[str] = Field(default_factory=list)
    outcome: Outcome | None = None
    handoff: str | None = None
    """The signal that handed the turn to a person (guardrails/escalation.py SIGNALS)."""
    packet_contains: list[str] = Field(default_factory=list)
    """Words the handoff's context packet (its summary) must hold: what the person taking over reads."""


class PersonAnswer(_Strict):
    """What the person a turn was handed to does: `POST /handoffs/{id}/{action}` with `message`."""

    action: Literal["reply", "resolve", "return"]
    message: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _reply_has_words(self) -> PersonAnswer:
        if self.action == "reply" and not self.message:
            raise ValueError("a reply needs a `message`")
        return self

    def body(self) -> dict[str, Any]:
        return {"message": self.message} if self.message else {}


class Turn(_Strict):
    """One user message, the reviewer's answers to what it asks, the answers of a person it is handed to, and
    what must hold after them (the answer checked is the thread's last: a person's reply, when there is one)."""

    user: str = Field(min_length=1)
    reviewer: list[Review] = Field(default_factory=list)
    person: list[PersonAnswer] = Field(default_factory=list)
    expect: Expect | None = None


class Case(_Strict):
    id: str
    category: Category
    context: dict[str, Any] | None = None
    turns: list[Turn] = Field(min_length=1)
    file: str = Field("", exclude=True)
    """Where the case was read from (set by the loader, not written in YAML)."""

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not KEBAB.match(value):
            raise ValueError(f"{value!r} is not kebab-case (lowercase words and digits joined by '-')")
        return value

    @field_validator("context")
    @classmethod
    def _known_context(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        unknown = sorted(set(value or {}) - CONTEXT_KEYS)
        if unknown:
            raise ValueError(f"unknown context keys {unknown}; a run's context takes {sorted(CONTEXT_KEYS)}")
        return value


class CaseFileError(ValueError):
    """A case file that cannot be used: the message names the file, the case and the field."""


def load_file(path: Path) -> list[Case]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CaseFileError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CaseFileError(f"{path}: expected a list of cases at the top level, got {type(raw).__name__}")
    cases = []
    for index, entry in enumerate(raw):
        label = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
        where = f"{path}: case {label!r}" if label else f"{path}: case #{index + 1} (no id)"
        if not isinstance(entry, dict):
            raise CaseFileError(f"{where}: expected a mapping, got {type(entry).__name__}")
        try:
            cases.append(Case.model_validate({**entry, "file": path.name}))
        except ValidationError as exc:
            problems = "; ".join(
                f"field {'.'.join(str(p) for p in err['loc']) or '(case)'}: {err['msg']}" for err in exc.errors()
            )
            raise CaseFileError(f"{where}: {problems}") from None
    return cases


def load_cases(where: Path = CASES_DIR) -> list[Case]:
    """Every case of `where` (a YAML file, or a folder of them, read in name order); ids unique across files."""
    files = [where] if where.is_file() else sorted(where.glob("*.yaml")) + sorted(where.glob("*.yml"))
    seen: dict[str, str] = {}
    cases: list[Case] = []
    for path in files:
        for case in load_file(path):
            if case.id in seen:
                raise CaseFileError(f"{path}: case {case.id!r}: field id: already used in {seen[case.id]}")
            seen[case.id] = path.name
            cases.append(case)
    return cases
