"""Fold text to the skeleton the injection rules read, keeping the way back to the original.

Folding undoes the usual disguises so one lowercase pattern catches them all: compatibility forms
(full-width, mathematical, circled letters: NFKD), accents and other combining marks, invisible
format characters (zero-width, bidi, tags, soft hyphen), case, look-alike letters from other
scripts (Cyrillic "о", Greek "ι"), and digits or symbols standing for letters inside words
("1gn0r3"). "l" and "1" both become "i", so the patterns are compiled through `fold_pattern`,
which applies the same letter mapping to their literal text. `compact` then drops everything but
letters, which joins "i g n o r e", "i.g.n.o.r.e" and "ig-nore".

Every folded character remembers the index of the source character it came from (`origin`), so
a match in the skeleton maps back to a span of the original text. Everything here is one pass
over the text, with per-character results cached.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass
from functools import lru_cache

# Look-alikes that NFKD leaves alone, mapped to the Latin letter they imitate (after casefold).
# The mapping only has to be a function: patterns written in Cyrillic or Greek go through it too.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "є": "e", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ь": "b", "г": "r",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ѵ": "v",
    # Latin variants and small capitals
    "ı": "i", "ɩ": "i", "ɑ": "a", "ɒ": "a", "ʀ": "r", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
    "ꞯ": "q", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ø": "o", "đ": "d",
    "ħ": "h", "ŀ": "l", "ł": "l", "ƚ": "l", "ɫ": "l", "ß": "ss",
}  # fmt: skip
_LETTER_MAP = {"l": "i"}  # "l", "1", "|" and "I" all read as one letter
# Invisible characters NFKD keeps and that are not category Cf/Mn: Hangul fillers, used to pad text.
_HIDDEN = frozenset("\u115f\u1160\u3164\uffa0")
_LEET = str.maketrans("0123456789@$", "oizeasgtbg" + "as")
# A run of letters, digits, "@" and "$" that holds a digit or symbol: started only where such a run
# starts (the lookbehind) and taken possessively, so each run is read once.
_LEET_RUN = re.compile(r"(?<![a-z0-9@$])[a-z]*+[0-9@$][a-z0-9@$]*+")
_LETTERS = re.compile(r"[^\W\d_]++")


@dataclass(frozen=True)
class Folded:
    """Text in skeleton form; `origin[i]` is the index in the source of the character `text[i]` came from."""

    text: str
    origin: array | None  # None when text[i] came from source[i] (nothing was added or removed)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the source text that `text[start:end]` (non-empty) was folded from."""
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=4096)
def fold_char(ch: str) -> str:
    """One source character in skeleton form: possibly empty (invisible, mark) or longer ("ß", "ﬁ")."""
    out = []
    for c in unicodedata.normalize("NFKD", ch):
        cat = unicodedata.category(c)
        if cat in ("Mn", "Me", "Cf") or c in _HIDDEN:
            continue
        if cat == "Cc" and c not in "\n\r\t":
            out.append(" ")  # a control character between words still separates them
            continue
        if cat in ("Zl", "Zp"):
            out.append("\n")
            continue
        if cat == "Zs":
            out.append(" ")
            continue
        for f in c.casefold():
            f = _CONFUSABLES.get(f, f)
            out.append(_LETTER_MAP.get(f, f) if len(f) == 1 else f.replace("l", "i"))
    return "".join(out)


_ASCII_TABLE = str.maketrans(
    {**{chr(c): " " for c in range(32) if chr(c) not in "\n\r\t"}, "\x7f": " ", "l": "i", "L": "i"}
)


def _deleet(match: re.Match[str]) -> str:
    run = match.group()
    # Only a word that has letters is leetspeak; "2024" and "$100" stay numbers. Same length, so offsets hold.
    return run.translate(_LEET) if any("a" <= c <= "z" for c in run) else run


def fold(text: str) -> Folded:
    """The skeleton of `text`: one linear pass (a C-speed one when the text is ASCII)."""
    if text.isascii():
        lowered = text.lower().translate(_ASCII_TABLE)
        return Folded(_LEET_RUN.sub(_deleet, lowered), None)
    parts: list[str] = []
    origin = array("l")
    for i, ch in enumerate(text):
        f = fold_char(ch) if ch > "\x7f" else _ascii_char(ch)
        if f:
            parts.append(f)
            if len(f) == 1:
                origin.append(i)
            else:
                origin.extend([i] * len(f))
    folded = "".join(parts)
    return Folded(_LEET_RUN.sub(_deleet, folded), origin)


def _ascii_char(ch: str) -> str:
    return ch.lower().translate(_ASCII_TABLE)


def compact(folded: Folded) -> Folded:
    """Only the letters of a folded text, so letters spread out by spaces, dots or dashes meet again."""
    parts: list[str] = []
    origin = array("l")
    for m in _LETTERS.finditer(folded.text):
        parts.append(m.group())
        if folded.origin is None:
            origin.extend(range(m.start(), m.end()))
        else:
            origin.extend(folded.origin[m.start() : m.end()])
    return Folded("".join(parts), origin)


def fold_pattern(pattern: str) -> str:
    """A regex written in plain lowercase, with its literal letters mapped as `fold` maps text.

    Only non-ASCII characters and "l" change, so ASCII regex syntax (`\\W`, `(?:`, `{0,3}`) is untouched.
    """
    return "".join(fold_char(c) if c > "\x7f" else _LETTER_MAP.get(c, c) for c in pattern)
