"""Themes: items about the same problem or wish, grouped as they arrive.

A new item joins the theme whose items read most like it, or starts one. Only items of the
same product area and kind are compared (a complaint about slow invoices and a wish for
invoice reminders are different work), and likeness is the cosine of TF-IDF vectors over the
items' content words cut into character n-grams, so "invoice"/"invoices" and
"crash"/"crashing" meet without a stemmer (scikit-learn). Grouping is incremental: what a
reviewer merged, split or renamed is never regrouped, new items simply join those themes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from ceoline.insights.labels import Item
from ceoline.insights.urgency import urgent_reason

# Cosine over character n-grams of content words at which an item joins a theme. Callers
# paraphrase one problem with few shared words ("slow with a hundred clients" / "takes
# forever with lots of customers"), so within one area, kind and harm the bar is low; on the
# labelled grouping 0.05-0.07 scores best and 0.12 already splits half the themes.
JOIN_AT = 0.07
_WORD = re.compile(r"[a-z][a-z']+")
_STOP = ENGLISH_STOP_WORDS | {
    "really", "just", "like", "want", "know", "think", "got", "get", "im", "i'm", "it's",
    "quillfern", "theo", "please", "thank", "thanks", "time", "way", "lot", "lots",
}  # fmt: skip


def content(text: str) -> str:
    return " ".join(w for w in _WORD.findall(text.lower()) if w not in _STOP)


@dataclass
class _Member:
    key: str
    text: str


@dataclass
class _Theme:
    id: object
    bucket: tuple[str, str]
    members: list[_Member] = field(default_factory=list)


class ThemeBook:
    """Themes known so far; ``place`` puts a new item in one and says which."""

    def __init__(self, new_id: Callable[[], object] | None = None, join_at: float = JOIN_AT):
        numbers = count(1)
        self._new_id = new_id or (lambda: next(numbers))
        self.join_at = join_at
        self.themes: dict[object, _Theme] = {}

    def add(self, theme_id: object, key: str, item: Item) -> None:
        """An item already in a theme (from the store)."""
        theme = self.themes.setdefault(theme_id, _Theme(theme_id, bucket_of(item)))
        theme.members.append(_Member(key, content(item.quote)))

    def nearest(self, item: Item) -> tuple[object | None, float]:
        bucket = bucket_of(item)
        candidates = [t for t in self.themes.values() if t.bucket == bucket and t.members]
        text = content(item.quote)
        if not candidates or not text:
            return None, 0.0
        corpus = [m.text for t in candidates for m in t.members]
        try:
            vectors = _vectorizer().fit([*corpus, text])
        except ValueError:  # nothing left to compare once stop words are gone
            return None, 0.0
        scores = cosine_similarity(vectors.transform([text]), vectors.transform(corpus))[0]
        best, best_score, at = None, 0.0, 0
        for theme in candidates:
            mine = sorted(scores[at : at + len(theme.members)], reverse=True)
            at += len(theme.members)
            score = float(sum(mine[:2]) / min(2, len(mine)))
            if score > best_score:
                best, best_score = theme.id, score
        return best, best_score

    def place(self, key: str, item: Item) -> object:
        theme_id, score = self.nearest(item)
        if theme_id is None or score < self.join_at:
            theme_id = self._new_id()
        self.add(theme_id, key, item)
        return theme_id


def bucket_of(item: Item) -> tuple[str, str]:
    # A wish is other work than a fault in the same screen (add recurring invoices / the
    # invoice list is slow), and each kind of urgent harm (money taken twice, money missing,
    # fraud, someone else's data...) is its own.
    family = item.type
    if item.urgency == "high":
        family = f"urgent:{urgent_reason(item.quote) or 'other'}"
    return item.product_area, family


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)


def title_for(quotes: list[str]) -> str:
    """A theme's working title: its most central quote, cut at its first clause."""
    texts = [content(q) for q in quotes]
    if len(quotes) > 2 and all(texts):
        vectors = _vectorizer().fit_transform(texts)
        centrality = cosine_similarity(vectors).sum(axis=1)
        quote = quotes[int(centrality.argmax())]
    else:
        quote = quotes[0]
    clause = re.split(r"(?<=[a-z])[,;.!?]\s", quote.strip(), maxsplit=1)[0].rstrip(".!?")
    return clause if len(clause) <= 90 else clause[:87].rsplit(" ", 1)[0] + "…"


def assign(store, items: list[Item], since: str) -> list[int]:
    """The theme of each new item: one that items since SINCE are in, or a new one."""
    book = ThemeBook()
    for row in store.themed_items(since):
        existing = Item(
            row["type"], row["product_area"], row["sentiment"], row["urgency"], row["quote"],
            False, "",
        )  # fmt: skip
        book.add(row["theme_id"], f"item-{row['id']}", existing)
    chosen = []
    for n, item in enumerate(items):
        theme_id, score = book.nearest(item)
        if theme_id is None or score < book.join_at:
            harm = bucket_of(item)[1].removeprefix("urgent:") if item.urgency == "high" else ""
            theme_id = store.create_theme(item.product_area, item.type, harm)
        book.add(theme_id, f"new-{n}", item)
        chosen.append(int(theme_id))
    return chosen
