"""When to hand the conversation to a person: which signal fired, why, and how urgent it is. Pure.

Six signals, each switched on (with its priority) or off by the operator (HANDOFF_SIGNALS):
`asked_for_human` (the user asks for a person, in English, French, German or Spanish),
`negative_sentiment` (VADER's lexicon score of the user's message at or under a threshold: offline, no
model), `low_confidence` (the planner reported a confidence under a floor; only models that report one),
`high_stakes` (the plan names a tool the operator marked high-stakes), `consecutive_failures` (that
many failed steps in a row) and `guardrail` (a guardrail stopped the turn, or refused or fenced
something in it). When several fire, the most urgent wins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

Signal = Literal[
    "asked_for_human", "negative_sentiment", "low_confidence", "high_stakes", "consecutive_failures", "guardrail"
]
Priority = Literal["low", "normal", "high", "urgent"]
SIGNALS: tuple[str, ...] = Signal.__args__  # type: ignore[attr-defined]
PRIORITIES: tuple[str, ...] = Priority.__args__  # type: ignore[attr-defined]

DEFAULT_SIGNALS: dict[str, Priority] = {
    "asked_for_human": "normal",
    "negative_sentiment": "high",
    "low_confidence": "normal",
    "high_stakes": "high",
    "consecutive_failures": "high",
    "guardrail": "urgent",
}
# Guardrails that mean the agent is being misled by what it read (instructions planted in a tool output, and
# the actions and recipients they push). Not signals: those that fire when nothing is wrong (a redacted address,
# a long result cut), a user's own slip the answer explains (a card number to remember), and the operator's own
# choices (a tool switched off or not enabled), which a person could not undo for the user either.
DEFAULT_GUARDRAILS = (
    "tool_output.injection",
    "tool_policy.unrequested_action",
    "tool_policy.unrequested_recipient",
    "tool_policy.tainted_memory",
)


@dataclass(frozen=True)
class Policy:
    """The operator's choices (settings HANDOFF_*); the defaults are the settings' defaults."""

    signals: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SIGNALS))
    """Signal -> priority, for the signals that are on."""
    sentiment_threshold: float = -0.65
    min_confidence: float = 0.5
    failure_streak: int = 3
    high_stakes_tools: frozenset[str] = frozenset()
    guardrails: tuple[str, ...] = DEFAULT_GUARDRAILS
    """Prefixes of the `layer.rule` names that count as the guardrail signal."""
    team: str = "a member of our support team"
    """Who picks a handoff up, as the user is told."""


@dataclass(frozen=True)
class Escalation:
    signal: str
    reason: str
    """Why, for the person taking over and the record."""
    priority: str

    def as_state(self) -> dict[str, Any]:
        return {"signal": self.signal, "reason": self.reason, "priority": self.priority, "status": "requested"}


# --- asking for a person --------------------------------------------------------------------------------------
# Folded text (lowercase, no accents). Each alternation is a plain word list: no pattern can backtrack.
_PERSON_EN = r"(?:a |an |some |one of your |your )?(?:real |actual |live |human )?(?:human|person|people|agent|representative|rep|operator|manager|supervisor|someone|somebody|staff member|employee|customer service)"  # noqa: E501
_ASK_EN = (
    rf"\b(?:speak|talk|chat) (?:to|with) {_PERSON_EN}\b",
    rf"\b(?:connect|transfer|put|escalate) (?:me|this|us)(?: through)? (?:to|with) {_PERSON_EN}\b",
    r"\b(?:want|need|get me|get|give me|request) (?:a |an )?(?:real |actual |live )?(?:human|person)\b",
    r"\bhuman (?:agent|being|support|help)\b",
    r"\b(?:real|actual|live) (?:human|person|agent)\b",
    r"\bnot (?:a |an )?(?:bot|robot|machine|ai)\b",
)
_ASK_FR = (
    r"\bparler (?:a|avec) (?:un |une |quelqu'un|quelqu un|votre |le |la )?(?:vrai |vraie |conseiller|conseillere|humain|personne|agent|responsable|operateur|operatrice|service client)",  # noqa: E501
    r"\b(?:un|une) (?:vrai|vraie|veritable) (?:humain|personne)\b",
    r"\b(?:un|une) (?:conseiller|conseillere|etre) humain",
    r"\bpasser (?:a|par) un conseiller\b",
)
_ASK_DE = (
    r"\b(?:mit|einen|eine) (?:einem |einer |dem |der |ihrem |ihrer )?(?:echten |echte |richtigen )?(?:menschen|mensch|mitarbeiter|mitarbeiterin|berater|beraterin|kundenberater|sachbearbeiter|vorgesetzten|person|jemandem) (?:sprechen|reden|verbinden|haben|bitte)\b",  # noqa: E501
    r"\b(?:echten|echte|echter|richtigen) (?:menschen|mensch|person|mitarbeiter)\b",
    r"\bmenschliche[nr]? (?:mitarbeiter|berater|ansprechpartner|hilfe)\b",
)
_ASK_ES = (
    r"\bhablar con (?:un |una |el |la |su )?(?:alguien|humano|persona|agente|representante|asesor|asesora|operador|operadora|encargado|supervisor)\b",  # noqa: E501
    r"\b(?:persona|humano) (?:real|de verdad)\b",
    r"\bagente humano\b",
)
_ASK = re.compile("|".join((*_ASK_EN, *_ASK_FR, *_ASK_DE, *_ASK_ES)))
# A question *about* escalation ("what is the escalation policy") names no person and matches nothing.


def fold(text: str) -> str:
    """Lowercase, accents dropped, whitespace collapsed: one spelling for the patterns to read."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.replace("\u2019", "'").split())


def asks_for_human(text: str) -> str | None:
    """The words in which the user asks for a person, or None."""
    found = _ASK.search(fold(text[:5000]))
    return found.group().strip() if found else None


# --- sentiment ------------------------------------------------------------------------------------------------
@cache
def _analyser() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score, -1 (very negative) to 1: a maintained English lexicon and rules, offline.
    English only: in a German text "die" is an article, not the English verb VADER scores. Only the first
    SENTIMENT_CHARS are read: VADER's cost grows faster than the text (40 ms for 2,000 characters of
    "not good!"), and a message's tone is set well before that."""
    words = text[:SENTIMENT_CHARS].split()
    if len(_GERMAN & {w.lower() for w in words}) >= 2:
        words = [w for w in words if w.lower() != "die"]
    return float(_analyser().polarity_scores(" ".join(words))["compound"])


SENTIMENT_CHARS = 1000
_GERMAN = frozenset({"der", "das", "und", "ist", "nicht", "ich", "habe", "mit", "gilt", "jetzt"})


# --- deciding -------------------------------------------------------------------------------------------------
def at_turn_start(text: str, policy: Policy, *, score: float | None = None) -> Escalation | None:
    """Signals in the user's message itself, read before anything is planned. `score`: the sentiment a
    provider model gave the message (HANDOFF_SENTIMENT_MODEL); None: VADER scores it."""
    fired: list[Escalation] = []
    if "asked_for_human" in policy.signals and (said := asks_for_human(text)):
        fired.append(_made("asked_for_human", f'the user asked to speak with a person ("{said}")', policy))
    if "negative_sentiment" in policy.signals and text.strip():
        by = "" if score is None else ", by the model"
        score = sentiment(text) if score is None else score
        if score <= policy.sentiment_threshold:
            why = f"the user's message reads as very upset (sentiment {score:.2f}{by})"
            fired.append(_made("negative_sentiment", why, policy))
    return most_urgent(fired)


def after_plan(tools: Sequence[str], confidence: float | None, policy: Policy) -> Escalation | None:
    """Signals in the plan, before any step runs: a high-stakes tool, or a planner unsure of itself."""
    fired: list[Escalation] = []
    risky = sorted(set(tools) & policy.high_stakes_tools)
    if "high_stakes" in policy.signals and risky:
        what = ", ".join(risky)
        fired.append(_made("high_stakes", f"the plan needs {what}, which the operator marked high-stakes", policy))
    if "low_confidence" in policy.signals and confidence is not None and confidence < policy.min_confidence:
        fired.append(_made("low_confidence", f"the planner was not confident in its plan ({confidence:.2f})", policy))
    return most_urgent(fired)


def after_step(
    observations: Sequence[Mapping[str, Any]],
    *,
    guardrail_events: Sequence[str],
    blocked: bool,
    guardrail: str | None,
    policy: Policy,
) -> Escalation | None:
    """Signals in what the turn has done so far: failures in a row, a guardrail that fired."""
    fired: list[Escalation] = []
    streak = 0
    for observation in reversed(observations):
        if observation.get("ok"):
            break
        streak += 1
    if "consecutive_failures" in policy.signals and streak >= policy.failure_streak:
        last = observations[-1]
        why = f"the last {streak} steps failed (last: {last.get('tool')}: {last.get('error')})"
        fired.append(_made("consecutive_failures", why, policy))
    if "guardrail" in policy.signals:
        names = ([guardrail] if blocked and guardrail else []) + list(guardrail_events)
        hit = next((n for n in names if n.startswith(policy.guardrails)), None)
        if hit is not None:
            fired.append(_made("guardrail", f"a guardrail fired ({hit})", policy))
    return most_urgent(fired)


def most_urgent(fired: Sequence[Escalation]) -> Escalation | None:
    return max(fired, key=lambda e: PRIORITIES.index(e.priority), default=None)


def _made(signal: str, reason: str, policy: Policy) -> Escalation:
    return Escalation(signal=signal, reason=reason, priority=policy.signals[signal])
