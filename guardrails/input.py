"""The input guardrail: a request is refused when it is too long, hides characters, or tries prompt injection.

Rules (`input.<rule>`), checked in this order:

- `too_long`: more than `max_chars` characters.
- `control_chars`: a control character other than tab, newline and carriage return, or an invisible
  character that can hide or reorder text: zero-width space/joiner/non-joiner, word joiner and other
  invisible operators, bidi embeddings/overrides/isolates (U+202A–202E, U+2066–2069), tag characters
  (U+E0000–E007F), soft hyphen, Hangul fillers, interlinear annotation marks. Ordinary text that uses
  some of these is allowed: a zero-width joiner between emoji (family and profession sequences), a
  zero-width (non-)joiner between letters of a script that needs it (Persian, Arabic, Indic: any
  letter outside Latin, Greek and Cyrillic), tag characters that spell a subdivision flag after U+1F3F4
  (🏴 England, Scotland, Wales), one byte-order mark at the very start. Variation selectors, emoji
  modifiers and the left-to-right/right-to-left marks (U+200E, U+200F, U+061C) are ordinary and allowed.
- `prompt_injection`: `guardrails.injection.find_injections` finds an attempt to take the model over.
"""

from __future__ import annotations

import re
import unicodedata

from guardrails.injection import find_injections
from guardrails.verdict import Verdict

LAYER = "input"

# Candidates, each judged with its neighbours by `_hidden_char`; one pass over the text.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u115f\u1160\u180e\u200b-\u200d\u2028-\u202e"
    "\u2060-\u2064\u206a-\u206f\u2066-\u2069\u3164\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_ZWJ, _ZWNJ, _BOM = "\u200d", "\u200c", "\ufeff"
_BLACK_FLAG = "\U0001f3f4"
_TAG_SPEC = re.compile("[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,6}\U000e007f")
_EMOJI_PARTS = re.compile("[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff\ufe0f\u20e3]")


def _is_emoji(ch: str) -> bool:
    return bool(ch) and _EMOJI_PARTS.match(ch) is not None and unicodedata.category(ch) in ("So", "Sk", "Mn", "Me")


def _joining_letter(ch: str) -> bool:
    """A letter or mark of a script where (non-)joiners shape words: anything but Latin, Greek, Cyrillic."""
    if not ch or unicodedata.category(ch)[0] not in "LM":
        return False
    name = unicodedata.name(ch, "")
    return not name.startswith(("LATIN", "GREEK", "CYRILLIC"))


def _hidden_char(text: str, i: int) -> bool:
    """Whether the suspect character at `text[i]` hides something rather than shaping ordinary text."""
    ch = text[i]
    prev, nxt = text[i - 1 : i], text[i + 1 : i + 2]
    if ch == _ZWJ and _is_emoji(prev) and _is_emoji(nxt):
        return False
    if ch in (_ZWJ, _ZWNJ) and _joining_letter(prev) and _joining_letter(nxt):
        return False
    if ch == _BOM and i == 0:
        return False
    if ch in "\u2028\u2029":  # line and paragraph separators: line breaks, not hidden text
        return False
    return True


def _flag_tags(text: str, i: int) -> int:
    """Length of a subdivision-flag tag sequence starting at `text[i]` right after U+1F3F4, else 0."""
    if text[i - 1 : i] != _BLACK_FLAG:
        return 0
    m = _TAG_SPEC.match(text, i)
    return m.end() - i if m else 0


def _find_hidden(text: str) -> tuple[int, str] | None:
    pos = 0
    while (m := _SUSPECT.search(text, pos)) is not None:
        i = m.start()
        if "\U000e0000" <= text[i] <= "\U000e007f" and (skip := _flag_tags(text, i)):
            pos = i + skip
            continue
        if _hidden_char(text, i):
            return i, text[i]
        pos = i + 1
    return None


def check(text: str, *, max_chars: int) -> Verdict:
    """Refuse a request that is too long, hides characters or tries prompt injection; pass it unchanged otherwise."""
    if len(text) > max_chars:
        return Verdict.block(
            LAYER, "too_long", f"request is {len(text)} characters; the limit is {max_chars}: shorten it or split it"
        )
    if (hidden := _find_hidden(text)) is not None:
        i, ch = hidden
        name = unicodedata.name(ch, "control character")
        return Verdict.block(
            LAYER,
            "control_chars",
            f"request contains U+{ord(ch):04X} ({name}) at character {i}, which can hide text; "
            "remove invisible or control characters and send it again",
        )
    if found := find_injections(text, limit=1):
        return Verdict.block(
            LAYER,
            "prompt_injection",
            f"request reads as an attempt to override the assistant's instructions "
            f"({found[0].kind.replace('_', ' ')}); ask for the task itself",
        )
    return Verdict.allow(LAYER)
