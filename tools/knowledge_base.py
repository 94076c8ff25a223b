"""Ranking and answer extraction over the sections of a folder of Markdown documents.

Each ``## `` section is one passage; text before the first section becomes an "Overview" passage. Passages are
ranked by BM25F: a section's heading (and its document's title) counts as a field of its own, weighing more than a
word of its body. A query's key terms weigh more than generic words ("policy", "days", "how"), and a passage must
hold most of the query's weight to be returned at all, so a question the documents do not cover finds nothing
instead of the passage that shares one word with it. ``extract`` then picks the sentence or two that answer the
query, each with its source. The index is tiny and built in memory, so there is nothing to keep in sync.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import snowballstemmer

K1 = 1.5
B = 0.75
HEADING_WEIGHT = 2.5
"""A word of a section's heading or its document's title counts as this many words of the section's body."""
GENERIC_WEIGHT = 0.25
"""A generic word of a query ("policy", "days") weighs this much of a key term: it breaks ties, it cannot match."""
MIN_COVERAGE = 0.6
"""The share of a query's key terms (each weighing its idf) a passage must hold to be returned, unless it holds
`MIN_KEY_TERMS` of its key terms. A word no document holds counts as the rarest word would, so "the capital of
Australia" (capital: nowhere) is not answered by the one passage naming Australia, while "ignore my typo, how long
is the warranty on apparel" still finds the warranty on apparel."""
MIN_KEY_TERMS = 2
MAX_EXTRACTS = 2
MAX_WORD = 40
MAX_QUERY_WORDS = 1_000
"""Distinct words of a query read, in order; far above any question (search_docs takes 500 characters)."""

STOPWORDS = frozenset(
    """a about after all also am an and any are as at be been before but by can could did do does
    for from had has have how i if in into is it its me my no not of on or our so than that the
    their them then there these they this to too up us was we were what when where which while who
    why will with would you your""".split()
)
# Words of a question that say what kind of answer is wanted, not what it is about: they weigh little.
GENERIC = frozenset(
    """policy policies day days long much many time times get got need needs want know tell please acme
    outfitters question questions rule rules ask asking asked take takes taking page pages information info
    detail details say says said explain
    summary summarize summarise work works happen happens option options way ways able allowed thing
    things mine someone something anything""".split()
)
# Words customers use for what the documents name otherwise (after stemming both sides), like a search
# engine's synonym list: "boots I wore on a muddy hike" is about footwear, wear, mud and outdoor use.
RELATED = {
    "boot": ("footwear",),
    "shoe": ("footwear",),
    "sneaker": ("footwear",),
    "wore": ("wear",),
    "worn": ("wear",),
    "muddi": ("mud", "outdoor"),
    "dirti": ("outdoor",),
    "hike": ("outdoor",),
    "camp": ("outdoor",),
    "trail": ("outdoor",),
    "money": ("refund",),
    "ask": ("request",),
    "bitcoin": ("cryptocurr",),
    "crypto": ("cryptocurr",),
    "complaint": ("issu",),
    "minimum": ("least",),
    "length": ("long", "charact"),
    "reimburs": ("refund",),
    "cost": ("fee", "charg"),
    "price": ("cost",),
    "login": ("sign",),
    "log": ("sign",),
    "deliveri": ("ship",),
    "deliv": ("ship",),
    "break": ("broken", "defect"),
    "broke": ("broken", "defect"),
}

_WORD = re.compile(r"[^\W_]+")
_STEMMER = snowballstemmer.stemmer("english")
# A sentence ends at ".", "!" or "?" followed by space and a capital, a digit or an opening mark.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“($])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+\.)\s+")
# A question asking for a figure ("how many days", "what is the fee"): a sentence stating one is the likelier answer.
_WANTS_FIGURE = re.compile(
    r"\bhow\s+(?:long|many|much|soon|fast|often|old)\b|\b(?:cost|costs|fee|fees|price|charge|minimum|maximum|"
    r"limit|when|window|period|deadline)\b",
    re.I,
)
_META = re.compile(r"^(?:this|the)\s+page\b", re.I)  # "This page explains ...": about the page, never an answer
_QUESTION = re.compile(r"\?|^\s*(?:what|how|why|when|where|can|could|do|does|is|are|which|who|will|should)\b", re.I)


@lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    """Snowball's English stemmer (Porter2): "refunds"/"refunded" meet "refund", "shipping" meets "ship"."""
    return str(_STEMMER.stemWord(word))


def tokenize(text: str) -> list[str]:
    """The one analyzer used for both passages and queries; they must match term for term."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def query_terms(query: str) -> dict[str, float]:
    """The query's terms with their weights: key terms 1, generic words `GENERIC_WEIGHT`, related terms a little
    less than the word they come from."""
    return _analyse(query)[0]


def _analyse(query: str) -> tuple[dict[str, float], set[str]]:
    """The query's weighted terms (`query_terms`) and the terms it says itself (not added as related ones). A "word"
    longer than `MAX_WORD` is nobody's question and is left out, as is what follows `MAX_QUERY_WORDS` words."""
    weights: dict[str, float] = {}
    said: set[str] = set()
    for count, word in enumerate(dict.fromkeys(_WORD.findall(query.lower()))):
        if count >= MAX_QUERY_WORDS:
            break  # a question is far shorter: the rest of an oversized query only costs
        if word in STOPWORDS or len(word) > MAX_WORD:
            continue
        term = _stem(word)
        said.add(term)
        weight = GENERIC_WEIGHT if word in GENERIC or term in GENERIC else 1.0
        weights[term] = max(weights.get(term, 0.0), weight)
        for related in RELATED.get(term, ()):
            weights.setdefault(related, 0.8 * weight)
    return weights, said


@dataclass(frozen=True)
class Passage:
    source: str  # file name, e.g. "refunds.md"
    title: str
    section: str
    text: str
    score: float


@dataclass(frozen=True)
class Extract:
    """A sentence of a passage that answers the query, with where it comes from."""

    text: str
    source: str
    title: str
    section: str


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


def split_sentences(text: str) -> list[str]:
    """A passage's sentences, whitespace folded: each list item is one, prose is cut at sentence ends."""
    units: list[str] = []
    prose: list[str] = []
    item: list[str] | None = None

    def flush_prose() -> None:
        if prose:
            units.extend(_SENTENCE_END.split(" ".join(prose)))
            prose.clear()

    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if item is not None and stripped and line[:1].isspace() and not _LIST_ITEM.match(line):
            item.append(stripped)  # an indented continuation of the list item
            continue
        if item is not None:
            units.append(" ".join(item))
            item = None
        if not stripped:
            flush_prose()
        elif _LIST_ITEM.match(line):
            flush_prose()
            item = [_LIST_ITEM.sub("", line, count=1).strip()]
        else:
            prose.append(stripped)
    return [" ".join(u.split()) for u in units if u.strip()]


class KnowledgeBase:
    """An in-memory BM25F index. Build it with ``from_folder`` or from ``{file name: markdown}``."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._passages = [p for name in sorted(documents) for p in split_sections(name, documents[name])]
        body = [Counter(tokenize(p.text)) for p in self._passages]
        heading = [Counter(tokenize(f"{p.title} {p.section}")) for p in self._passages]
        self._headings = [set(h) for h in heading]
        self._titles = [set(tokenize(p.title)) for p in self._passages]
        self._body_lengths = [sum(t.values()) for t in body]
        avg = sum(self._body_lengths) / len(self._body_lengths) if self._body_lengths else 1.0
        # BM25F: the body's term frequency is normalised by the body's length, the heading's is not (a heading is
        # short by nature), then the two are weighed together before saturation.
        self._terms: list[dict[str, float]] = []
        for terms, head, length in zip(body, heading, self._body_lengths, strict=True):
            norm = 1 - B + B * length / avg if avg else 1.0
            weighted = {t: tf / norm for t, tf in terms.items()}
            for t, tf in head.items():
                weighted[t] = weighted.get(t, 0.0) + HEADING_WEIGHT * tf
            self._terms.append(weighted)
        doc_freq = Counter(term for terms in self._terms for term in terms)
        n = len(self._passages)
        # The "+ 1" (Lucene's variant) keeps idf positive for terms found in most passages.
        self._idf = {t: math.log((n - df + 0.5) / (df + 0.5) + 1.0) for t, df in doc_freq.items()}
        self._unknown_idf = math.log((n + 0.5) / 0.5 + 1.0)  # a term no passage holds: rarer than any that one does
        self._by_key = {(p.source, p.section): i for i, p in enumerate(self._passages)}

    @classmethod
    def from_folder(cls, path: Path) -> KnowledgeBase:
        return cls({f.name: f.read_text(encoding="utf-8") for f in sorted(Path(path).glob("*.md"))})

    def __len__(self) -> int:
        return len(self._passages)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unknown_idf)

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first; passages holding less than `MIN_COVERAGE` of the
        query's key terms (and fewer than `MIN_KEY_TERMS` of them) are left out, so an unrelated question finds
        nothing."""
        weights, said = _analyse(query)
        # Coverage is over the key terms the query says itself, each at its idf; one no passage holds counts as the
        # rarest word would, so a question made of such words is not about the documents. Generic words only rank
        # (a query of nothing else is judged on them), and related terms only stand in for the word they come from.
        asked = {t: w for t, w in weights.items() if t in said and w >= 1.0} or {
            t: w for t, w in weights.items() if t in said
        }
        total = sum(w * self.idf(t) for t, w in asked.items())
        if total <= 0:
            return []
        # Each asked term with the terms that find it: its own and, at a little less, the documents' word for it.
        finders = [
            (w * self.idf(t), [(t, 1.0)] + [(r, 0.8) for r in RELATED.get(t, ()) if r in self._idf])
            for t, w in asked.items()
        ]
        finders = [(weight, found) for weight, found in finders if any(term in self._idf for term, _ in found)]
        known = [(t, w) for t, w in weights.items() if t in self._idf]
        scored = []
        for i, terms in enumerate(self._terms):
            score = 0.0
            for t, w in known:
                tf = terms.get(t)
                if tf:
                    score += w * self._idf[t] * tf * (K1 + 1) / (tf + K1)
            if score <= 0:
                continue
            covered, found = 0.0, 0
            for weight, alternatives in finders:
                share = max((s for term, s in alternatives if term in terms), default=0.0)
                covered += weight * share
                found += share > 0
            if covered / total >= MIN_COVERAGE or found >= MIN_KEY_TERMS:
                scored.append((-score, self._passages[i].source, i, score))
        scored.sort()
        return [replace(self._passages[i], score=score) for _, _, i, score in scored[: max(k, 0)]]

    def is_topic(self, query: str, passages: Iterable[Passage]) -> bool:
        """Whether `query` names a document ("the warranty policy") rather than asks something: then an answer is a
        summary of that document's sections."""
        first = next(iter(passages), None)
        if first is None or _QUESTION.search(query):
            return False
        weights, said = _analyse(query)
        key = [t for t, w in weights.items() if w == 1.0 and t in said]
        title = self._titles[self._by_key[(first.source, first.section)]]
        return bool(key) and all(t in title for t in key)

    def extract(self, query: str, passages: list[Passage], limit: int = MAX_EXTRACTS) -> list[Extract]:
        """The sentences of `passages` that answer `query`, best first: at most `limit` for a question (a second one
        only when it adds a term the first lacks), one per section of the named document for a topic."""
        if not passages:
            return []
        if self.is_topic(query, passages):
            source = passages[0].source
            return [self._lead(p) for p in passages if p.source == source]
        weights = query_terms(query)
        # A figure is wanted by a question asking for one, and by a topic to explain: policies are made of figures.
        wants_figure = bool(_WANTS_FIGURE.search(query)) or not _QUESTION.search(query)
        best_score = passages[0].score or 1.0
        candidates: list[tuple[float, int, int, set[str], Extract, bool]] = []
        for rank, passage in enumerate(passages):
            heading = self._headings[self._by_key[(passage.source, passage.section)]]
            context = sum(w * self.idf(t) for t, w in weights.items() if t in heading)
            for position, sentence in enumerate(split_sentences(passage.text)):
                terms = set(tokenize(sentence)) & weights.keys()
                if not terms or _META.match(sentence):
                    continue
                own = sum(weights[t] * self.idf(t) for t in terms)
                # A sentence is read in its section: the heading's match counts, as does the passage's rank.
                score = (own + 0.15 * context) * (0.6 + 0.4 * passage.score / best_score)
                if wants_figure and any(ch.isdigit() for ch in sentence):
                    score *= 1.3
                extract = Extract(sentence, passage.source, passage.title, passage.section)
                figure = wants_figure and any(ch.isdigit() for ch in sentence)
                candidates.append((-score, rank, position, terms, extract, figure))
        candidates.sort(key=lambda c: (c[0], c[1], c[2]))
        if not candidates:
            return [self._lead(passages[0])]
        chosen = [candidates[0]]
        for candidate in candidates[1:]:
            if len(chosen) >= limit:
                break
            covered = set().union(*(c[3] for c in chosen))
            new = {t for t in candidate[3] - covered if weights[t] >= 1.0}
            # A second sentence when it answers more of the question, or is nearly as good a match in the same
            # section (the rule and its figure are often said in two sentences).
            share = -candidate[0] / -chosen[0][0]
            same_section = candidate[1] == chosen[0][1]
            if (new and share >= 0.5) or (same_section and share >= (0.35 if candidate[5] else 0.6)):
                chosen.append(candidate)
        answer = [c[4] for c in chosen]
        # A question that names the best sentence's section ("the refund window") is answered by that section's
        # opening too: it is where the section states its rule.
        top = passages[chosen[0][1]]
        named = {t for t in tokenize(top.section) if t not in GENERIC}
        opening = next(iter(split_sentences(top.text)), None)
        if named and named <= weights.keys() and opening and all(e.text != opening for e in answer):
            answer = [Extract(opening, top.source, top.title, top.section), *answer][:limit]
        elif not _QUESTION.search(query) and (lead := self._lead(top)) not in answer:
            answer.append(lead)  # a topic to explain: its section's figure ("within 30 days") belongs in it
        return answer

    @staticmethod
    def _lead(passage: Passage) -> Extract:
        """A section in one sentence: its first that states a figure (policies are made of them), else its first."""
        sentences = split_sentences(passage.text) or [passage.text]
        lead = next((s for s in sentences if any(ch.isdigit() for ch in s)), sentences[0])
        return Extract(lead, passage.source, passage.title, passage.section)


@lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The bundled Acme Outfitters policies, read from disk on first use and kept afterwards."""
    return KnowledgeBase.from_folder(Path(__file__).parent / "knowledge")
