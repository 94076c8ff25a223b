"""The retention guardrail: what is kept beyond a run (a user's long-term memory) holds no card number, US SSN or
secret. Pure; no I/O.

Why these kinds and not the others guardrails.pii finds: an email address or a phone number in a memory is a
contact detail the user gave so that it is used ("always send summaries to finance@acme.test"); it is kept for
that user only, shown to them and deletable by them. A card number, an SSN or a credential is never needed to
plan anything, does harm if it leaks, and the output guardrail would redact it from every answer anyway, so a
memory of one could only ever be a liability.
"""

from __future__ import annotations

import json
from typing import Any

from guardrails import pii

REFUSED_KINDS = ("card", "ssn", "secret")
_NAMES = {"card": "a payment card number", "ssn": "a social security number", "secret": "a password, key or token"}


def refused_kinds(value: Any) -> tuple[str, ...]:
    """The kinds in REFUSED_KINDS found anywhere in `value` (a string, or the strings of a JSON-like value)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    _, kinds = pii.redact(text)
    return tuple(kind for kind in kinds if kind in REFUSED_KINDS)


def refusal(value: Any) -> str | None:
    """Why `value` may not be kept (what it holds, and what to do instead), or None when it may.

    Used where memory is written: the tool policy (the `remember` tool) and the /store API's `memories` namespace."""
    kinds = refused_kinds(value)
    if not kinds:
        return None
    what = " and ".join(_NAMES[kind] for kind in kinds)
    return f"it holds {what}, which is never kept in memory; nothing was stored: say it again without that"
