"""Personal data and secrets in free text: found by pattern and replaced by a typed marker. Pure; no I/O.

Used on answers (guardrails.output), log events and trace payloads (handrail.logs). Each kind is matched by a
pattern that fixes its shape and a check in Python for what a pattern says badly (a card's Luhn digit, a phone
number's digit count, a token's entropy), so dates, amounts, versions, ticket ids and arithmetic results stay.

Every pattern is linear in its input, as llm/offline_rules.py's are: each starts behind a lookbehind that admits
only the start of a run (so no start position inside a run rescans it), and its repeats are possessive or bounded
and cannot take the same characters as what follows them, so a failed match never gives characters back one at a
time. A private key's end is found with `str.find`, once per key, never by a lazy `.*?`. A pattern runs only when
the text holds what it needs (a digit, an "@", a key's prefix), so text with none (most log events) costs a few
scans.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

KINDS = ("email", "phone", "card", "ssn", "secret")
"""Every kind `redact` reports, in the order it reports them."""

MARKERS = {kind: f"[{kind} redacted]" for kind in KINDS}

# Cheap gates, so that text with nothing to redact (most log events) costs a few scans: a pattern runs only when
# what it needs is in the text. Numbers need 8 digits (the shortest phone number); vendor keys a fixed prefix.
_DIGIT_OR_AT = re.compile(r"[\d@]")
_EIGHT_DIGITS = re.compile(r"(?:\D*+\d){8}")
_TOKEN_PREFIX = re.compile(r"sk-|gh[pousr]_|github_pat_|xox[a-z]-|A[KS]IA|AIza|eyJ")
_PASSWORD_WORDS = ("passw", "pwd", "passphrase")
_KEY_WORDS = ("key", "token", "secret", "credential")

# RFC 5321 bounds (local part <= 64, label <= 63), matched possessively from the start of a run: as offline_rules.EMAIL.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+)++(?![\w-])")

_PRIVATE_KEY = re.compile(r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----")
# Vendor key shapes. Each alternative starts with a fixed prefix, so a start position fails within a few characters.
_TOKEN = re.compile(
    r"(?<![\w-])(?:"
    r"sk-[A-Za-z0-9_\-]{20,}+"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Stripe-like
    r"|gh[pousr]_[A-Za-z0-9]{30,}+"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{30,}+"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}+"  # Slack
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"  # AWS access key ids
    r"|AIza[0-9A-Za-z_\-]{30,}+"  # Google API keys
    r"|eyJ[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]{8,}+"  # JWTs
    r")"
)
# The credential after "Bearer" or "Authorization: Basic"; the scheme word stays, so the text still reads. After a
# bare "bearer" it must look like one ("the bearer instrument" is prose).
_BEARER = re.compile(r"(?i:\bbearer\s++)([A-Za-z0-9._~+/\-]{8,}+=*+)")
_AUTHORIZATION = re.compile(r"(?i:\bauthorization:\s*+(?:basic|bearer|digest|token)\s++)([A-Za-z0-9._~+/\-]{4,}+=*+)")
# A password is a secret whatever it looks like, when it is given as `password: x` or `password=x`.
_PASSWORD = re.compile(r"(?i:\b(?:password|passwd|pwd|passphrase)\s*+[:=]\s*+)[\"']?+([^\s\"'\[]{4,}+)")
# A long, mixed token after a word that names a credential ("api key: 3f9a…", "token is AbC…"). The value's
# entropy is checked in Python, so "the key point is internationalization" stays.
_KEYED = re.compile(
    r"(?i:\b(?:api[_\s-]?key|access[_\s-]?key|secret(?:[_\s-]?key)?|client[_\s-]?secret|"
    r"(?:auth|access|refresh|session|bearer)?[_\s-]?token|key|credentials?))"
    r"[\s\"':=>]{0,8}+(?:(?i:is|was)\s++)?+[\"']?+"
    r"([A-Za-z0-9+/_\-.~]{20,}+={0,2})"
)
# A run of digits joined by single spaces or dashes: a card is 13-19 of them. Not after a letter, ".", "," or "-"
# (ticket ids, decimals, amounts), nor before a letter or a decimal part; never from inside a run (a run ending in
# a letter would otherwise be rescanned from each of its groups).
_DIGIT_RUN = re.compile(r"(?<![\w.,+\-])(?<!\d[ \-])\d(?:[ \-]?+\d)*+(?![\w]|[.,]\d)")
_GROUP = re.compile(r"\d++")
_SSN = re.compile(r"(?<![\w.,+\-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w]|[.,\-]\d)")
# North American numbers: area and exchange codes start with 2-9 (so "100 200 3000" is no phone); separators are
# required, so an order number's run of digits is none either.
_US_PHONE = re.compile(
    r"(?<![\w.,+\-/])(?:1[ .\-])?+(?:\([2-9]\d\d\) ?+|[2-9]\d\d[ .\-])[2-9]\d\d[ .\-]\d{4}(?![\w]|[.,\-/]\d)"
)
# "+" and a country code, then groups of digits; the digit count (8-15, E.164) is checked in Python.
_INTL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}+(?:[ .\-]?+\(?\d{1,4}+\)?){1,6}+(?![\w]|[.,]\d)")

_SECRET_MIN_ENTROPY = 3.0  # bits per character: a hex digest has ~4, an English word 2-3


def redact(text: str, *, keep: Collection[str] = ()) -> tuple[str, tuple[str, ...]]:
    """`text` with every email address (except those in `keep`, any case), phone number, payment card, US SSN and
    API key or secret replaced by a marker such as "[email redacted]", and the kinds found, in `KINDS` order."""
    digits_or_at = _DIGIT_OR_AT.search(text) is not None
    low = text.lower()
    has_token = _TOKEN_PREFIX.search(text) is not None
    has_password = any(word in low for word in _PASSWORD_WORDS)
    if not (digits_or_at or has_token or has_password or "-----begin" in low or "bearer" in low or "authoriz" in low):
        return text, ()
    found: set[str] = set()
    if "-----BEGIN" in text:
        text = _private_keys(text, found)
    if has_token:
        text = _sub(_TOKEN, text, "secret", found)
    if "authoriz" in low:
        text = _sub(_AUTHORIZATION, text, "secret", found, group=1)
    if "bearer" in low:
        text = _sub(_BEARER, text, "secret", found, group=1, accept=_looks_like_credential)
    if has_password:
        text = _sub(_PASSWORD, text, "secret", found, group=1, trim=True)
    if digits_or_at and any(word in low for word in _KEY_WORDS):  # a random-looking value has a digit
        text = _sub(_KEYED, text, "secret", found, group=1, trim=True, accept=_looks_random)
    if "@" in text:
        kept = {address.lower() for address in keep}
        text = _sub(EMAIL, text, "email", found, accept=lambda address: address.lower() not in kept)
    if digits_or_at and _EIGHT_DIGITS.match(text):
        text = _cards(text, found)
        if "-" in text:
            text = _sub(_SSN, text, "ssn", found)
        if "+" in text:
            text = _sub(_INTL_PHONE, text, "phone", found, accept=lambda number: 8 <= _count_digits(number) <= 15)
        text = _sub(_US_PHONE, text, "phone", found)
    return text, tuple(kind for kind in KINDS if kind in found)


def redact_value(value: Any, *, keep: Collection[str] = ()) -> Any:
    """`value` with every string in it redacted, through dicts (values, not keys), lists and tuples; other
    values are returned as they are. For log events and trace payloads."""
    if isinstance(value, str):
        return redact(value, keep=keep)[0]
    if isinstance(value, dict):
        return {k: redact_value(v, keep=keep) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, keep=keep) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, keep=keep) for v in value)
    return value


def _sub(
    pattern: re.Pattern[str],
    text: str,
    kind: str,
    found: set[str],
    *,
    group: int = 0,
    trim: bool = False,
    accept: Callable[[str], bool] | None = None,
) -> str:
    """Replace `group` of each match of `pattern` that `accept` accepts by the kind's marker."""
    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        start, end = match.span(group)
        if trim:  # a sentence's full stop or a closing bracket is not part of the secret
            while end > start and text[end - 1] in ".,;:)]}":
                end -= 1
        if accept is not None and not accept(text[start:end]):
            continue
        pieces += (text[position:start], MARKERS[kind])
        position = end
        found.add(kind)
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _private_keys(text: str, found: set[str]) -> str:
    """Replace each PEM private key block; one with no END line runs to the end of the text."""
    pieces: list[str] = []
    position = 0
    while match := _PRIVATE_KEY.search(text, position):
        pieces += (text[position : match.start()], MARKERS["secret"])
        found.add("secret")
        end = text.find("-----END", match.end())
        if end < 0:
            return "".join(pieces)
        close = text.find("-----", end + len("-----END"))
        position = len(text) if close < 0 else close + len("-----")
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _cards(text: str, found: set[str]) -> str:
    """Replace payment card numbers: 13-19 digits, grouped by single spaces or dashes or not at all, starting
    with 2-6 (the card networks' ranges) and passing the Luhn check. Longer runs are searched group by group."""
    pieces: list[str] = []
    position = 0
    for run in _DIGIT_RUN.finditer(text):
        if not 13 <= len(run.group()):
            continue
        for start, end in _card_spans(run):
            pieces += (text[position:start], MARKERS["card"])
            position = end
            found.add("card")
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _card_spans(run: re.Match[str]) -> list[tuple[int, int]]:
    text = run.group()
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19:
        return [run.span()] if _is_card(digits) else []
    # A longer run ("4111 1111 1111 1111 2027"): a card is one group of 13-19 digits, or 3-6 groups of 3-6 digits
    # each, as cards are printed. A window spans at most 6 groups, so this is linear in the run.
    groups = [(g.start(), g.end(), g.group()) for g in _GROUP.finditer(text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        hit = i if 13 <= len(groups[i][2]) <= 19 and _is_card(groups[i][2]) else None
        total = 0
        for j in range(i, min(i + 6, len(groups))):
            if hit is not None or not 3 <= len(groups[j][2]) <= 6:
                break
            total += len(groups[j][2])
            if total >= 13 and _is_card("".join(g[2] for g in groups[i : j + 1])):
                hit = j
        if hit is None:
            i += 1
            continue
        spans.append((run.start() + groups[i][0], run.start() + groups[hit][1]))
        i = hit + 1
    return spans


def _is_card(digits: str) -> bool:
    if digits[0] not in "23456":
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _count_digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _looks_like_credential(token: str) -> bool:
    return len(token) >= 32 or (any(c.isdigit() for c in token) and any(c.isalpha() for c in token))


def _looks_random(token: str) -> bool:
    """A credential, not a word: letters and digits mixed, and as varied as a random string."""
    if not (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)):
        return False
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return entropy >= _SECRET_MIN_ENTROPY
