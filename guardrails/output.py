"""The output guardrail: the final answer claims no action that no tool did, carries no personal data the user did
not give, and is the JSON the caller asked for. Pure; no I/O.

It corrects rather than refuses: an unbacked claim ("I have sent the email") is cut and a plain note says what was
not done; personal data is redacted (guardrails.pii), except the email addresses the user wrote. Only an answer
that is not the JSON the caller asked for blocks, with a detail fit to re-ask the model once.

A claim is a past or perfect action verb in first person, passive or headline form ("I have sent", "the ticket
has been created", "Email sent to ...") in a sentence that is not a question, whose clause is not negated,
conditional or reported ("no email was sent", "once approved, ...", "you wrote that ..."), and that does not
quote a tool's result or the user's own words verbatim. It is backed by a successful call of a tool whose name
says it does that kind of thing (`send_email` backs "sent"), or that `tool_claims` says does. Every pattern is
linear in its input, and each claim's context is read in a bounded window, so the work on any answer is linear.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from guardrails import pii
from guardrails.verdict import Verdict

LAYER = "output"

CLAIM_KINDS = ("send", "ticket", "book", "refund", "cancel", "delete", "update")
"""What an answer can claim was done; `tool_claims` maps a tool name to the kinds it backs."""

# A successful tool backs a kind when its name holds one of these.
_TOOL_WORDS = {
    "send": ("send", "mail", "message", "notify", "forward", "reply", "sms"),
    "ticket": ("ticket", "case", "issue", "incident", "escalat", "create", "open", "file", "submit"),
    "book": ("book", "schedul", "reserv", "calendar", "meeting", "appointment", "event"),
    "refund": ("refund", "credit", "reimburs"),
    "cancel": ("cancel",),
    "delete": ("delete", "remove", "erase", "purge"),
    "update": ("update", "change", "edit", "set_", "reset", "modify"),
}
# The built-in tool named in the note when no tool of the kind was even tried.
_DEFAULT_TOOL = {"send": "send_email", "ticket": "create_ticket"}
_NOT_DONE = {
    "send": "no email was sent",
    "ticket": "no ticket was created",
    "book": "nothing was booked or scheduled",
    "refund": "no refund was issued",
    "cancel": "nothing was cancelled",
    "delete": "nothing was deleted",
    "update": "nothing was updated",
}

# Verbs that are a claim of their own kind whatever their object.
_VERB_KIND = {
    **dict.fromkeys(("sent", "emailed", "e-mailed", "mailed", "forwarded", "messaged", "notified", "queued"), "send"),
    **dict.fromkeys(("escalated",), "ticket"),
    **dict.fromkeys(("booked", "scheduled", "rescheduled", "reserved"), "book"),
    **dict.fromkeys(("refunded", "reimbursed", "credited"), "refund"),
    **dict.fromkeys(("cancelled", "canceled"), "cancel"),
    **dict.fromkeys(("deleted", "erased", "purged"), "delete"),
}
# Verbs that claim an action only with a known object ("opened a ticket", not "opened the document").
_GENERIC_VERBS = ("created", "opened", "filed", "submitted", "raised", "logged", "placed", "processed", "issued",
                  "initiated", "completed", "set up", "registered", "arranged", "made")  # fmt: skip
_UPDATE_VERBS = ("updated", "changed", "reset", "modified")
# Objects, in the order the note names them: a "refund request" that was submitted is a ticket or a refund.
_NOUN_KIND = (
    ("ticket", re.compile(r"\b(?:tickets?|cases?|issues?|incidents?|complaints?|requests?|escalations?|bug)\b")),
    ("book", re.compile(r"\b(?:bookings?|reservations?|appointments?|meetings?|events?|demos?)\b")),
    ("refund", re.compile(r"\b(?:refunds?|reimbursements?|credits?|chargebacks?)\b")),
    ("send", re.compile(r"\b(?:e-?mails?|messages?|mails?|notifications?|replies|reply)\b")),
    ("cancel", re.compile(r"\bcancell?ations?\b")),
    ("delete", re.compile(r"\bdeletions?\b")),
)
_UPDATE_NOUNS = re.compile(
    r"\b(?:address(?:es)?|passwords?|accounts?|subscriptions?|profiles?|phone|orders?|plans?|settings|preferences)\b"
)

_VERBS = "|".join(sorted({*_VERB_KIND, *_GENERIC_VERBS, *_UPDATE_VERBS}, key=len, reverse=True)).replace(" ", r"\s+")
_ADVERBS = r"(?:just|already|now|also|successfully|then|all|gone\s+ahead\s+and|went\s+ahead\s+and)"
# The four forms of a claim. Each repeat takes whitespace and words the next element cannot start with, and is
# possessive, so a failed match gives nothing back.
_CLAIM = re.compile(
    rf"\b(?:i|we)(?:['’](?:ve|d))?+(?:\s++(?:have|had|{_ADVERBS}))*+\s++(?P<v1>{_VERBS})\b"  # "I have sent"
    rf"|\b(?:was|were|been|got|has|have|is\s+now|are\s+now)(?:\s++{_ADVERBS})*+\s++(?P<v2>{_VERBS})\b"  # passive
    rf"|\b(?:e-?mails?|messages?|tickets?|cases?|refunds?|bookings?|appointments?|meetings?|orders?)"
    rf"\s++(?P<v3>{_VERBS})\b"  # headline: "Email sent to ...", "Ticket created"
    rf"|^\s*+(?:[-*+\u2022]|\d{{1,3}}[.)])?+\s*+(?:successfully\s++|just\s++)?+"  # a list item's marker
    rf"(?P<v4>{_VERBS})\s++(?=\S)",  # subjectless: "Sent the summary to ...", "- Emailed Bob"
    re.IGNORECASE,
)
# A sentence: from a non-space through what is not a terminator, or a terminator inside a token ("3.5", "e.g.x").
# A numbered list item's marker at a line's start belongs to its sentence ("1. Opened ticket #7.").
_SENTENCE = re.compile(r"(?:(?<![^\n])[ \t]*+\d{1,3}[.)][ \t]++)?+\S(?:[^.!?\n]|[.!?]++(?=\S))*+[.!?]*+")
_TRAILING_SPACE = re.compile(r"(?<![ \t])[ \t]++(?=\n|$)")
_BLANK_LINES = re.compile(r"\n{3,}+")
_CLAUSE_BREAK = re.compile(r"[,;:()\u2013\u2014]|\s-\s")
_NEGATED_BEFORE = re.compile(
    r"\b(?:no|not|never|nothing|none|neither|nor|without|unable|cannot|failed|if|once|when|whenever|after|until|"
    r"unless|before|whether|would|could|should|might|may|will|shall|"
    r"said|says|wrote|writes|mentioned|told|reported|claimed|claims|stated|states)\b|n['’]t\b|"
    r"\bas\s+soon\s+as\b|\baccording\s+to\b",
    re.IGNORECASE,
)
_NEGATED_AFTER = re.compile(
    r"\b(?:not|never|failed|failure|unable|rejected|bounced|undeliverable|error)\b|n['’]t\b", re.IGNORECASE
)
_NEAR_WORDS = 5  # words of a generic verb's subject or object read for its kind
_PHRASE_END = re.compile(r"\b(?:of|about|on|for|to|with|from|in|at|by|that|which|and|or|as)\b|[.!?]", re.IGNORECASE)
_WINDOW = 200  # characters of a claim's clause read on either side: cues further away are another thought
_MAX_CLAIMS = 64  # claims checked against quoted text; beyond this an answer is noise, and its claims stand as claims
_MIN_QUOTE = 12  # a clause shorter than this is too common to be taken for a quotation
_MAX_ERRORS = 5  # schema errors reported to the model


def check(
    answer: str,
    *,
    user_texts: Sequence[str],
    observations: Sequence[Mapping[str, Any]],
    response_format: Mapping[str, Any] | None = None,
    tool_claims: Mapping[str, Collection[str]] | None = None,
    keep_emails: Collection[str] = (),
) -> Verdict:
    """Check and correct the final `answer` of a turn.

    `user_texts` are the user's messages (their email addresses stay in the answer), `observations` the turn's
    tool results (graph.state.Observation), `response_format` OpenAI's `{"type": "json_object"}` or
    `{"type": "json_schema", "json_schema": {"schema": {...}}}`. `tool_claims` says which `CLAIM_KINDS` a tool
    backs beyond what its name says; `keep_emails` are addresses that may always be shown (the organisation's).

    Allows with `value` the corrected answer (`answer` itself when nothing changed) and flags `ungrounded_claim`,
    `pii`, `json_fence`; blocks with rule `invalid_json` when the answer is not the JSON asked for.
    """
    keep = {*keep_emails, *(m.group() for text in user_texts for m in pii.EMAIL.finditer(text))}
    grounding = _Grounding(observations, user_texts, tool_claims or {})
    fmt = (response_format or {}).get("type")
    if fmt not in ("json_object", "json_schema"):
        text, flags = _correct(answer, grounding, keep)
        return Verdict.allow(LAYER, value=answer if not flags else text, flags=flags)

    body, fenced = _unfence(answer)
    parsed = _parse_object(body, response_format)
    if isinstance(parsed, str):
        return Verdict.block(LAYER, "invalid_json", parsed)
    fired: set[str] = set()
    try:
        corrected = _walk_strings(parsed, lambda s: _correct_into(s, grounding, keep, fired))
    except RecursionError:
        return Verdict.block(LAYER, "invalid_json", "the answer's JSON is nested too deeply; reply with a flatter one")
    flags = ("json_fence",) if fenced else ()
    flags += tuple(flag for flag in ("ungrounded_claim", "pii") if flag in fired)
    if fired:
        return Verdict.allow(LAYER, value=json.dumps(corrected, ensure_ascii=False), flags=flags)
    return Verdict.allow(LAYER, value=body if fenced else answer, flags=flags)


class _Grounding:
    """What this turn's tools did, and the text they returned (which an answer may quote)."""

    def __init__(
        self, observations: Sequence[Mapping[str, Any]], user_texts: Sequence[str], tool_claims: Mapping[str, Any]
    ) -> None:
        self.tool_claims = tool_claims
        self.succeeded = [str(o.get("tool", "")) for o in observations if o.get("ok") and o.get("status") == "done"]
        self.tried = [str(o.get("tool", "")) for o in observations]
        quoted = [*user_texts, *(s for o in observations for s in _strings(o))]
        self.quoted = "\x00".join(_normal(s) for s in quoted)

    def tools_for(self, kind: str, names: Sequence[str]) -> list[str]:
        return [n for n in dict.fromkeys(names) if kind in self.tool_claims.get(n, ()) or _named_for(kind, n)]

    def backed(self, kind: str) -> bool:
        return bool(self.tools_for(kind, self.succeeded))

    def note(self, kind: str) -> str:
        tried = self.tools_for(kind, self.tried) or [t for t in (_DEFAULT_TOOL.get(kind),) if t]
        if not tried:
            return f"Note: {_NOT_DONE[kind]} — no tool call in this run did that."
        return f"Note: {_NOT_DONE[kind]} — no {' or '.join(tried)} call succeeded in this run."


def _named_for(kind: str, tool: str) -> bool:
    name = tool.lower()
    return any(word in name for word in _TOOL_WORDS[kind])


def _correct(text: str, grounding: _Grounding, keep: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """`text` without unbacked claims (a note for each kind instead) and redacted; and the flags that fired."""
    flags: tuple[str, ...] = ()
    grounded = _ground(text, grounding)
    if grounded is not None:
        text, flags = grounded, ("ungrounded_claim",)
    text, kinds = pii.redact(text, keep=keep)
    return text, flags + (("pii",) if kinds else ())


def _correct_into(text: str, grounding: _Grounding, keep: Collection[str], fired: set[str]) -> str:
    corrected, flags = _correct(text, grounding, keep)
    fired.update(flags)
    return corrected


def _ground(text: str, grounding: _Grounding) -> str | None:
    """`text` with each sentence that claims an unbacked action cut and a note added, or None when none does."""
    cut: list[tuple[int, int]] = []
    unbacked: dict[str, None] = {}
    budget = [_MAX_CLAIMS]
    for sentence in _SENTENCE.finditer(text):
        if kinds := list(_claims(sentence.group(), grounding, budget)):
            cut.append(sentence.span())
            unbacked.update(dict.fromkeys(kinds))
    if not cut:
        return None
    pieces, position = [], 0
    for start, end in cut:
        pieces.append(text[position:start])
        position = end
        while position < len(text) and text[position] in " \t":  # the space that separated it from the next
            position += 1
    pieces.append(text[position:])
    # Lines the cut left blank or ending in a space. Each pattern starts only where its run starts: linear.
    kept = _TRAILING_SPACE.sub("", "".join(pieces))
    kept = _BLANK_LINES.sub("\n\n", kept).strip()
    notes = "\n".join(grounding.note(kind) for kind in unbacked)
    return f"{kept}\n\n{notes}" if kept else notes


def _claims(sentence: str, grounding: _Grounding, budget: list[int]) -> Iterator[str]:
    """The kinds of action `sentence` claims were done and no tool backs, each once.

    Clause breaks and negation cues are found once per sentence and looked up per claim by bisection, so a
    run-on sentence of many claims costs a few steps per claim, not a rescan of its window.
    """
    if sentence.rstrip().endswith("?"):
        return
    cues: tuple[list[int], list[int], list[int], list[int]] | None = None
    seen: set[str] = set()
    for match in _CLAIM.finditer(sentence):
        verb = " ".join(next(v for v in match.group("v1", "v2", "v3", "v4") if v).lower().split())
        if _VERB_KIND.get(verb) in seen:
            continue
        if cues is None:
            cues = (
                [m.start() for m in _CLAUSE_BREAK.finditer(sentence)],
                [m.end() for m in _CLAUSE_BREAK.finditer(sentence)],
                [m.start() for m in _NEGATED_BEFORE.finditer(sentence)],
                [m.start() for m in _NEGATED_AFTER.finditer(sentence)],
            )
        break_starts, break_ends, negated_before, negated_after = cues
        start, end = match.span()
        # The clause: from the last break before the claim to the first after it, at most _WINDOW either way.
        i = bisect_right(break_ends, start)
        clause_start = max(start - _WINDOW, break_ends[i - 1] if i else 0)
        j = bisect_left(break_starts, end)
        clause_end = min(end + _WINDOW, break_starts[j] if j < len(break_starts) else len(sentence))
        before, after = sentence[clause_start:start], sentence[end:clause_end]
        kinds = _kinds(verb, match, before, after)
        if not kinds or seen.issuperset(kinds) or any(grounding.backed(kind) for kind in kinds):
            continue
        if _any_in(negated_before, clause_start, start) or _any_in(negated_after, end, clause_end):
            continue
        if budget[0] > 0:
            budget[0] -= 1
            clause = _normal(before + match.group() + after)
            if len(clause) >= _MIN_QUOTE and clause in grounding.quoted:
                continue
        seen.update(kinds)
        yield kinds[0]


def _any_in(positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(positions, start)
    return i < len(positions) and positions[i] < end


def _kinds(verb: str, match: re.Match[str], before: str, after: str) -> tuple[str, ...]:
    """The kinds of action claimed, any of which backs it: the verb's own, or for a generic verb its object's
    ("opened a support ticket", "the refund request was submitted"), not a noun further on ("created a summary of
    the refund policy")."""
    if verb in _VERB_KIND:
        return (_VERB_KIND[verb],)
    if match.group("v3"):
        near = match.group()
    elif match.group("v2"):  # passive: the subject is the last few words before the auxiliary
        near = " ".join(before.split()[-_NEAR_WORDS:])
    else:  # active: the object's head and its modifier, before its first preposition ("a new support ticket")
        words = _PHRASE_END.split(after, maxsplit=1)[0].split()[:_NEAR_WORDS]
        near = " ".join([w for w in words if w.isalpha()][-2:])
    near = near.lower()
    if verb in _UPDATE_VERBS:
        return ("update",) if _UPDATE_NOUNS.search(near) else ()
    return tuple(kind for kind, nouns in _NOUN_KIND if nouns.search(near))


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!")


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth < 8 and isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v, depth + 1)
    elif depth < 8 and isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v, depth + 1)


def _unfence(answer: str) -> tuple[str, bool]:
    """The answer inside one surrounding ``` fence (```json or bare), and whether there was one."""
    text = answer.strip()
    if not (len(text) >= 6 and text.startswith("```") and text.endswith("```")):
        return answer, False
    first_line, newline, rest = text[3:-3].partition("\n")
    if not newline or first_line.strip().lower() not in ("", "json"):
        return answer, False
    return rest.strip(), True


def _parse_object(body: str, response_format: Mapping[str, Any] | None) -> dict[str, Any] | str:
    """The answer as a JSON object valid against the format's schema, or what is wrong with it."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return (
            f"the answer must be a single JSON object and is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}); reply with only the JSON object, without prose or code fences"
        )
    except RecursionError:
        return "the answer's JSON is nested too deeply to read; reply with a flatter JSON object"
    if not isinstance(value, dict):
        return f"the answer must be a JSON object ({{...}}), not a JSON {_json_type(value)}"
    schema = ((response_format or {}).get("json_schema") or {}).get("schema")
    if not isinstance(schema, Mapping):
        return value
    try:
        cls = validator_for(schema)
        cls.check_schema(schema)
        errors = list(islice(cls(schema).iter_errors(value), _MAX_ERRORS))
    except SchemaError as exc:  # the caller's schema, not the model's answer: fail closed, and say whose it is
        return f"the response_format schema is itself invalid ({exc.message}); the answer could not be checked"
    except RecursionError:
        return "the answer's JSON is nested too deeply to check against the schema; reply with a flatter object"
    except Exception as exc:  # e.g. a $ref to a remote schema, which is never fetched: fail closed, say why
        return f"the response_format schema could not be applied ({type(exc).__name__}: {exc}); nothing was checked"
    if not errors:
        return value
    problems = "; ".join(f"at {e.json_path}: {e.message}" for e in errors)
    return f"the answer does not match the requested JSON schema: {problems}; reply with a corrected JSON object"


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _walk_strings(value: Any, fix: Any) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {k: _walk_strings(v, fix) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_strings(v, fix) for v in value]
    return value
