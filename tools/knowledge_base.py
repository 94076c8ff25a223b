"""Okapi BM25 ranking over the sections of a folder of Markdown documents.

Each ``## `` section is one passage; text before the first section becomes an "Overview" passage.
The index is tiny and built in memory, so there is no dependency and nothing to keep in sync.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

K1 = 1.5
B = 0.75

STOPWORDS = frozenset(
    """a about after all also am an and any are as at be been before but by can could did do does
    for from had has have how i if in into is it its me my no not of on or our so than that the
    their them then there these they this to too up us was we were what when where which while who
    why will with would you your""".split()
)

_WORD = re.compile(r"[^\W_]+")
_VOWEL = re.compile(r"[aeiouy]")


def _stem(word: str) -> str:
    """Fold common English inflections so "refunds"/"refunded" meet "refund" and "shipping" meets "ship"."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ly"):
        stem = word[: -len(suffix)]
        # The stem must still look like a word, or "bring" and "need" would be mangled.
        if word.endswith(suffix) and len(stem) >= 3 and _VOWEL.search(stem):
            word = stem
            if suffix != "ly" and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                word = stem[:-1]  # shipp -> ship, as Porter does
            break
    # A final silent "e" differs between "charge" and "charged"; dropping it makes them meet.
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """The one analyzer used for both passages and queries; they must match term for term."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


@dataclass(frozen=True)
class Passage:
    source: str  # file name, e.g. "refunds.md"
    title: str
    section: str
    text: str
    score: float


def split_sections(source: str, markdown: str) -> list[Passage]:
    """Cut one document into passages (score 0) at its ``## `` headings."""
    title = Path(source).stem.replace("_", " ").title()
    section, lines = "Overview", list[str]()
    passages: list[Passage] = []

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            passages.append(Passage(source, title, section, body, 0.0))

    for line in markdown.splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith("## "):
            flush()
            section, lines = line[3:].strip(), []
        else:
            lines.append(line)
    flush()
    return passages


class KnowledgeBase:
    """An in-memory BM25 index. Build it with ``from_folder`` or from ``{file name: markdown}``."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._passages = [p for name in sorted(documents) for p in split_sections(name, documents[name])]
        self._terms = [Counter(tokenize(f"{p.title} {p.section} {p.text}")) for p in self._passages]
        self._lengths = [sum(t.values()) for t in self._terms]
        self._avg_length = sum(self._lengths) / len(self._lengths) if self._lengths else 0.0
        doc_freq = Counter(term for terms in self._terms for term in terms)
        n = len(self._passages)
        # The "+ 1" (Lucene's variant) keeps idf positive for terms found in most passages.
        self._idf = {t: math.log((n - df + 0.5) / (df + 0.5) + 1.0) for t, df in doc_freq.items()}

    @classmethod
    def from_folder(cls, path: Path) -> KnowledgeBase:
        return cls({f.name: f.read_text(encoding="utf-8") for f in sorted(Path(path).glob("*.md"))})

    def __len__(self) -> int:
        return len(self._passages)

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first; passages sharing no term are left out."""
        # Repeating a word in a question should not double its weight, so query terms are a set. Terms no passage
        # holds are dropped once here, not once per passage: a long query then costs its length, not that times
        # the number of passages. The order is kept, so each score sums the same floats in the same order.
        query_terms = [t for t in set(tokenize(query)) if t in self._idf]
        scored = []
        for i, (terms, length) in enumerate(zip(self._terms, self._lengths, strict=True)):
            norm = K1 * (1 - B + B * length / self._avg_length)
            score = sum(self._idf[t] * terms[t] * (K1 + 1) / (terms[t] + norm) for t in query_terms if t in terms)
            if score > 0:
                scored.append((-score, self._passages[i].source, i, score))
        scored.sort()
        return [replace(self._passages[i], score=score) for _, _, i, score in scored[: max(k, 0)]]


@lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The bundled Acme Outfitters policies, read from disk on first use and kept afterwards."""
    return KnowledgeBase.from_folder(Path(__file__).parent / "knowledge")
