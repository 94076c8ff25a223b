"""The pieces injection rules are built from: word-anchored regexes over folded text, and their validators.

A rule is a regex tried where one of its lead words starts (`rule`), or searched through the whole text when it
starts with a rare character (`scan`), plus an optional `accept(text, match)` that asks for what makes the match
an attack. Rule sources are written in plain lowercase with a space wherever words meet (`rx` turns each space
into `SEP` and folds the letters as `guardrails.textfold` folds text). Quantifiers are bounded or possessive, so
a rule's work at one position is bounded by a constant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from guardrails.textfold import fold_pattern

SEP = r"[\W_]{1,40}+"  # between two words: any run of non-letters, taken whole (no giving back)
END = r"(?![^\W_])"  # the last word ends here, not inside a longer word
WORD = re.compile(r"[^\W_]++")


@dataclass(frozen=True)
class Match:
    """A span of the original text that reads as an instruction to the model."""

    start: int
    end: int
    kind: str  # override, role_marker, persona, prompt_leak, addressed_to_model, hidden_from_user, tool_call


Accept = Callable[[str, "re.Match[str]"], bool]


@dataclass(frozen=True)
class Rule:
    kind: str
    regex: re.Pattern[str]
    leads: frozenset[str]  # first words where the rule is tried; empty: the rule scans the text
    accept: Accept | None = None


def rx(source: str) -> str:
    """Regex source where a space stands for SEP, folded like the text it will read."""
    return fold_pattern(source).replace(" ", SEP)


def alt(choices: str) -> str:
    items = sorted({w.strip() for w in choices.split("|") if w.strip()}, key=len, reverse=True)
    return "(?:" + "|".join(items) + ")"


def words(choices: str) -> frozenset[str]:
    return frozenset(fold_pattern(w.strip()) for w in choices.split("|") if w.strip())


def rule(kind: str, lead: str, rest: str, accept: Accept | None = None) -> Rule:
    """A rule tried where one of the `lead` phrases ("|"-separated, spaces between words) starts."""
    leads = frozenset(fold_pattern(w.split()[0]) for w in lead.split("|") if w.strip())
    return Rule(kind, re.compile(rx(alt(lead) + rest), re.MULTILINE), leads, accept)


def scan(kind: str, source: str, accept: Accept | None = None, *, spaced: bool = True) -> Rule:
    """A rule searched through the whole text: it must start with a rare character (CJK, "<", "[")."""
    pattern = rx(source) if spaced else fold_pattern(source)
    return Rule(kind, re.compile(pattern, re.MULTILINE), frozenset(), accept)


def after(text: str, m: re.Match[str], n: int = 60) -> str:
    return text[m.end() : m.end() + n]


def before(text: str, m: re.Match[str], n: int = 120) -> str:
    return text[max(0, m.start() - n) : m.start()]


def found(wanted: frozenset[str], m: re.Match[str]) -> bool:
    return any(w in wanted for w in WORD.findall(m.group()))


# --- override: ignore / forget / disregard the previous instructions -----------------------------------------------

_OWN = re.compile(
    rx(
        r"[\W_]*+(?:(?:that|which) )?(?:(?:i|we) (?:(?:have|ve|had|d|just|already|previously|earlier|originally|"
        r"recently|also|then|first) ){0,2}(?:gave|give|given|sent|send|wrote|written|provided|mentioned|shared|told|"
        r"typed|listed|made|had|posted|pasted|added|left|set|put|asked|entered)|(?:from|by) (?:me|us|myself)|of mine)"
        r"(?![^\W_])"
    )
)
WEAK_TAIL = re.compile(
    rx(r"[\W_]*+(?:of|for|on|in|about|regarding|at|from|when|while|during|around|to|concerning|with)(?![^\W_])")
)


TOPIC_TAIL = re.compile(
    rx(
        r"[\W_]*+(?:(?:about|regarding|concerning|for|on) (?!(?:you|your|yourself|what|how|this conversation|this chat|"
        r"safety|content|ethics)(?![^\W_]))|(?:in|from|inside|of|at) (?:the|my|our|this|that|a|an|his|her|their) "
        r"(?!(?:conversation|chat|thread|session|prompt|system|context|above|start|beginning|top)(?![^\W_]))|"
        r"of (?!(?:you|your|yours|yourself|the system|the developers)(?![^\W_]))|"
        r"(?:printed|posted|attached|enclosed|shipped|included|found|stuck|taped|that came|that come|which came) )"
    )
)


def _qualified(quals: frozenset[str], temporal: frozenset[str], weak: frozenset[str]) -> Accept:
    """Accept a verb-to-noun match that names the model's own rules: an owner ("your", "system", "safety") or a
    post-qualifier ("above", "you were given"); a time ("previous", "earlier") unless a topic follows ("the
    previous instructions about parking": someone's instructions on a subject); a weak one ("all") unless any
    complement follows ("all the rules of chess"). Never the user's own ("the instructions I gave you")."""

    def accept(text: str, m: re.Match[str]) -> bool:
        if _OWN.match(text, m.end()):
            return False
        if m.groupdict().get("post") or found(quals, m):
            return True
        if found(temporal, m):
            return not TOPIC_TAIL.match(text, m.end())
        return found(weak, m) and not WEAK_TAIL.match(text, m.end())

    return accept


def override(
    verbs: str, fillers: str, nouns: str, quals: str, post: str = "", weak: str = "", *, post_rx: str = ""
) -> Rule:
    """A verb reaching one of `nouns` through up to five fillers and qualifiers, accepted by `_qualified`.

    `post` lists phrases after the noun that name the model's own rules ("you were given"); `post_rx` is the same
    as a regex source (spaces between words), for post-qualifiers that are classes rather than lists."""
    rest, accept = objects(fillers, nouns, quals, post, weak, post_rx=post_rx)
    return rule("override", verbs, rest, accept)


def objects(
    fillers: str, nouns: str, quals: str, post: str = "", weak: str = "", *, post_rx: str = ""
) -> tuple[str, Accept]:
    """The object of an override ("the previous instructions", "whatever guidance you received") as a regex source
    to follow the verb, and the validator that asks it to name the model's own rules."""
    posts = "|".join(p for p in (alt(post) if post else "", post_rx) if p)
    tail = f"(?: (?P<post>{posts}))?" if posts else ""
    rest = f" (?:{alt(fillers + '|' + quals + ('|' + weak if weak else ''))} ){{0,5}}{alt(nouns)}{tail}{END}"
    # English separates owners from times; the other languages' qualifiers are all treated as owners.
    own, when = words(quals) - _TEMPORAL, words(quals) & _TEMPORAL
    return rest, _qualified(own, when, words(weak) if weak else frozenset())


_TEMPORAL = words(
    "previous|previously|prior|above|earlier|preceding|former|original|initial|old|older|existing|pre set|prev|"
    "last|past|outdated|obsolete|default|first|starting|standing"
)
