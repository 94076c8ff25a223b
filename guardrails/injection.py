"""Find instruction-like text: prompt injection in a request, and instructions planted in tool output.

`find_injections` is what a user types to take the model over (override its instructions, fake a
role marker, switch it into a persona without rules, make it print its prompt or secrets), in
English and in French, Spanish, German, Italian, Portuguese, Dutch, Polish, Russian, Chinese,
Japanese and Korean. `find_instructions` adds what only makes sense inside data: text addressed
to the AI reading it, asking to keep things from the user, or naming a tool to call.

The rules (`injection_en`, `injection_i18n`, built with `rulekit`) read the skeleton of the text
(`textfold`): case, accents, look-alike letters, full-width forms, leetspeak and invisible characters
are folded away first, and the compact form (letters only) catches "i g n o r e" and "i.g.n.o.r.e".
A rule is tight by construction: a verb must reach a noun through a few determiners, and a validator
asks for what makes it an attack (a qualifier such as "previous", "your" or "system", a self-reference
to the AI), so "ignore the typo", "forget about the meeting", "print the refund policy" and "the
instructions I gave you" pass. The English rules are written by class rather than by sentence: override
verbs (strong ones such as "ignore", weak ones such as "discard" that need a clearer object, negated
obligations such as "you no longer have to obey"), the nouns for the model's rules, owner, time and
post-qualifiers ("you were given", "the developers gave you", "before my first message"), text-speak
("ur prev instrs"), and questions about the model's instructions ("what were you told before this chat").

Cost: a word-anchored rule is tried only where one of its lead words starts (one dict look-up per word
of the text), the scanning rules start with rare characters, and every quantifier is bounded or
possessive, so the whole is linear in the length of the text (about a second per megabyte).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from guardrails import injection_en, injection_i18n
from guardrails.rulekit import WORD, Rule
from guardrails.textfold import compact, fold


@dataclass(frozen=True)
class Match:
    """A span of the original text that reads as an instruction to the model."""

    start: int
    end: int
    kind: str  # override, role_marker, persona, prompt_leak, addressed_to_model, hidden_from_user, tool_call


Index = tuple[dict[str, list[Rule]], list[Rule]]


def _index(rules: list[Rule]) -> Index:
    """Rules by the first words they are tried at, and the rules that scan."""
    by_lead: dict[str, list[Rule]] = {}
    for r in rules:
        for lead in r.leads:
            by_lead.setdefault(lead, []).append(r)
    return by_lead, [r for r in rules if not r.leads]


_DIRECT = [*injection_en.DIRECT, *injection_i18n.OVERRIDES, injection_i18n.FORGET_ALL, *injection_i18n.CJK]
_DIRECT_INDEX = _index(_DIRECT)
_ALL_INDEX = _index(_DIRECT + injection_en.INDIRECT)


def _run(source: str, index: Index) -> Iterator[Match]:
    folded = fold(source)
    text = folded.text
    by_lead, scanning = index
    for word in WORD.finditer(text):
        for r in by_lead.get(word.group(), ()):
            m = r.regex.match(text, word.start())
            if m and m.end() > m.start() and (r.accept is None or r.accept(text, m)):
                yield Match(*folded.source_span(m.start(), m.end()), r.kind)
    for r in scanning:
        for m in r.regex.finditer(text):
            if m.end() > m.start() and (r.accept is None or r.accept(text, m)):
                yield Match(*folded.source_span(m.start(), m.end()), r.kind)
    squeezed = compact(folded)
    for r in injection_en.COMPACT:
        for m in r.regex.finditer(squeezed.text):
            start, end = squeezed.source_span(m.start(), m.end())
            if injection_en.spread_out(source[start:end]):
                yield Match(start, end, r.kind)


def _collect(text: str, index: Index, limit: int | None) -> list[Match]:
    found: list[Match] = []
    for match in _run(text, index):
        found.append(match)
        if limit is not None and len(found) >= limit:
            break
    return sorted(set(found), key=lambda m: (m.start, m.end, m.kind))


def find_injections(text: str, *, limit: int | None = None) -> list[Match]:
    """Spans of `text` that try to take the model over: override its instructions, fake a role marker,
    switch it into a persona without rules, or make it reveal its prompt or secrets. Sorted by start;
    at most `limit` (the first found) when given."""
    return _collect(text, _DIRECT_INDEX, limit)


def find_instructions(text: str, *, limit: int | None = None) -> list[Match]:
    """`find_injections` plus what only reads as an attack inside data (a tool result, a document): text
    addressed to the AI reading it, asking to keep something from the user, or naming a tool to call."""
    return _collect(text, _ALL_INDEX, limit)
