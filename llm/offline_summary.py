"""The running summary of a long conversation, written by rule: what the offline model answers when it is
asked for one (nodes/window.py), and the fallback when a provider model cannot write it.

Each turn becomes short lines (`User: …`, `Agent: …`). Over its budget the summary drops its oldest lines,
but user statements of fact or preference ("my manager is…", "always…") go last: they are what later
turns need. A rule cannot condense; for that, configure a provider model (SYNTH_MODEL) or use memory
("remember that…"), which keeps a fact for good.
"""

from __future__ import annotations

import re
from typing import Any

LINE_CHARS = 200
_STATEMENT = re.compile(
    r"\b(my|mine|our|i am|i'm|i prefer|prefer|always|never|remember|call me|from now on)\b", re.IGNORECASE
)


def summarize(data: dict[str, Any]) -> str:
    """`summary_so_far` with `turns` ([{role, text}]) appended, within `summary_tokens` (4 chars a token)."""
    lines = [line for line in str(data.get("summary_so_far") or "").splitlines() if line.strip()]
    for said in data.get("turns", []):
        text = " ".join(str(said.get("text", "")).split())
        if not text:
            continue
        who = "User" if said.get("role") == "user" else "Agent"
        lines.append(f"{who}: {text[:LINE_CHARS]}{'…' if len(text) > LINE_CHARS else ''}")
    return "\n".join(_within(lines, int(data.get("summary_tokens") or 500) * 4))


def _within(lines: list[str], max_chars: int) -> list[str]:
    """The lines that fit, dropping the oldest first: plain lines before a user's statements."""
    kept = list(lines)
    size = sum(len(line) + 1 for line in kept)
    for statements_too in (False, True):
        index = 0
        while size > max_chars and index < len(kept):
            line = kept[index]
            if statements_too or not _is_statement(line):
                size -= len(line) + 1
                del kept[index]
            else:
                index += 1
    return kept


def _is_statement(line: str) -> bool:
    return line.startswith("User: ") and bool(_STATEMENT.search(line))
