"""The agent's state, typed once. Everything here is JSON-safe and checkpointed every super-step."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic (schemas endpoint) needs it on Python < 3.12

Decision = Literal["continue", "replan", "finish"]
StepStatus = Literal["done", "failed", "rejected", "skipped"]


class PlanStep(TypedDict):
    """One planned tool call; an argument may hold `{{step:N}}`, the result of step N (1-based)."""

    tool: str
    args: dict[str, Any]
    purpose: str


class Observation(TypedDict):
    """What one executed (or refused) step produced; the only ground truth synthesize may use."""

    step: int
    call_id: str
    tool: str
    args: dict[str, Any]
    status: StepStatus
    ok: bool
    data: Any
    error: str | None
    feedback: NotRequired[str | None]
    flags: NotRequired[list[str]]
    """Guardrails that changed `data` before any model read it (`tool_output.injection`, `...truncated`)."""


class ReviewDecision(TypedDict):
    """A reviewer's answer to an approval request, after validation."""

    decision: Literal["approve", "edit", "reject"]
    args: dict[str, Any]
    feedback: str | None


class PendingCall(TypedDict):
    """A resolved, validated tool call waiting to run (and, for sensitive tools, for a reviewer)."""

    call_id: str
    step: int
    tool: str
    args: dict[str, Any]
    purpose: str
    review: ReviewDecision | None


def gathered(old: list[Observation], new: list[Observation] | None) -> list[Observation]:
    """The observations of steps running at the same time, each task adding its own; None empties it."""
    return [] if new is None else [*old, *new]


class Handoff(TypedDict):
    """The conversation handed to a person (nodes/handoff.py, nodes/human.py): why, how urgent, and for whom."""

    signal: str
    reason: str
    priority: str
    status: Literal["requested", "open", "resolved", "returned"]
    handoff_id: NotRequired[str]
    thread_id: NotRequired[str]
    """The thread it was opened in: a copy of the thread waits in a handoff of its own."""
    packet: NotRequired[dict[str, Any]]
    """What the person taking over is told: what the user wants, what was tried, what is open, what next."""


class InputState(TypedDict):
    """What a caller sends: the LangGraph messages convention, as Studio's chat does."""

    messages: Annotated[list[AnyMessage], add_messages]


class OutputState(TypedDict):
    """What a finished run hands back."""

    messages: Annotated[list[AnyMessage], add_messages]
    final_answer: str | None
    stop_reason: str | None
    observations: list[Observation]
    guardrail: NotRequired[str | None]
    blocked: NotRequired[bool]
    guardrail_events: NotRequired[list[str]]
    handoff: NotRequired[Handoff | None]


class AgentState(TypedDict):
    """The full checkpointed state of one thread."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation; the final answer is appended as an AI message."""
    plan: list[PlanStep]
    """The current plan; replaced on every (re-)plan."""
    cursor: int
    """Index into `plan` of the next step to execute."""
    observations: list[Observation]
    """Results of this turn's steps, in order."""
    pending: PendingCall | None
    """The call being executed or awaiting review."""
    decision: Decision | None
    """What reflect decided last."""
    plan_feedback: str | None
    """Why the next plan is requested (a failure, a rejection); read by the planner."""
    stop_reason: str | None
    """Why the turn ended early (limit, loop, no progress); None when it ran to completion."""
    final_answer: str | None
    """The synthesized answer of the last turn."""
    steps: int
    """Tool steps executed this turn."""
    replans: int
    """Re-plans made this turn."""
    tokens: int
    """Model tokens used this turn (input + output)."""
    cost_usd: float
    """Model cost of this turn, from the price table."""
    clock_started_at: float
    """Epoch seconds when agent time started counting (reset after a reviewer answers)."""
    guardrail: NotRequired[str | None]
    """The guardrail (`layer.rule`) that stopped this turn, when one did."""
    blocked: NotRequired[bool]
    """True when a guardrail refused the turn's input or a budget stopped it."""
    guardrail_events: NotRequired[list[str]]
    """Every guardrail that fired this turn, blocking or not (a fenced tool output, a redaction)."""
    intended: NotRequired[list[str]]
    """Side-effecting tools the turn's first plan named, from the user's words alone."""
    parallel: Annotated[list[Observation], gathered]
    """Observations of independent steps running at the same time (nodes/run_step.py), until gather
    records them in `observations` in plan order."""
    last_batch: NotRequired[int | None]
    """How many steps the last execution ran at once (gather); reflect judges them together."""
    summary: NotRequired[str | None]
    """What the turns before the context window said, for the models (nodes/window.py)."""
    summarized_through: NotRequired[str | None]
    """Id of the last message the summary covers."""
    tainted: NotRequired[bool]
    """A tool output of this turn held instruction-like text (it was fenced before any model read it)."""
    handoff: NotRequired[Handoff | None]
    """A handoff to a person: `requested` by a signal, `open` while a person has the thread, then closed."""
    confidence: NotRequired[float | None]
    """How sure the planner said it was of the current plan (0 to 1), when its model reports it."""
