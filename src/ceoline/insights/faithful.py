"""Is a summary about what the caller said, and nothing else?

A product team reads the summary instead of the call, so it must not pass off the bot's own
lines (its greeting, a refusal, an answer it read from the notes) as the caller's, and it must
not bring a figure or a name that nobody on the call said and the notes do not hold: a small
model invents both readily. These checks decide whether a drafted summary may stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d,.:]*")
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "thousand",
        "million",
        "billion",
        "half",
        "dozen",
    ]
)
# Capitalised words a summary may use without anyone on the call saying them.
_PLAIN = frozenset(
    [
        "i",
        "the",
        "a",
        "an",
        "they",
        "their",
        "them",
        "he",
        "she",
        "his",
        "her",
        "it",
        "its",
        "this",
        "that",
        "caller",
        "callers",
        "customer",
        "urgent",
        "complained",
        "complaint",
        "suggested",
        "suggestion",
        "praised",
        "praise",
        "asked",
        "question",
        "questions",
        "answered",
        "notes",
        "in",
        "their",
        "words",
        "about",
        "and",
        "or",
        "but",
        "also",
        "then",
        "person",
        "support",
    ]
)


# Words a summary may use to report speech without the caller having said them.
_REPORTING = frozenset(
    [
        "caller",
        "callers",
        "customer",
        "customers",
        "they",
        "their",
        "them",
        "said",
        "says",
        "asked",
        "asks",
        "want",
        "wants",
        "wanted",
        "need",
        "needs",
        "told",
        "tells",
        "would",
        "like",
        "complained",
        "complains",
        "complaint",
        "reported",
        "reports",
        "mentioned",
        "suggested",
        "suggests",
        "praised",
        "about",
        "also",
        "that",
        "this",
        "with",
        "from",
        "have",
        "has",
        "been",
        "were",
        "when",
        "what",
        "which",
        "because",
        "feedback",
        "issue",
        "problem",
        "question",
        "request",
        "thinks",
        "think",
        "feels",
        "felt",
    ]
)


@dataclass(frozen=True)
class SummaryCheck:
    bot_sentences: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()  # figures and names nobody on the call or in the notes said
    foreign_words: tuple[str, ...] = ()  # words the caller never used: a claim made up
    repeated: tuple[str, ...] = ()  # a sentence said twice: the model looping

    @property
    def ok(self) -> bool:
        return not (self.bot_sentences or self.unsupported or self.foreign_words or self.repeated)


def read_notes(directory: Path) -> str:
    """The company notes' text, the one source a summary may cite besides the caller."""
    try:
        return "\n".join(p.read_text("utf-8") for p in sorted(directory.glob("*.md")))
    except (OSError, UnicodeDecodeError):
        return ""


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _plain(text: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(text))


def said_by(call: dict, role: str) -> list[str]:
    return [t["text"] for t in call.get("turns", []) if t.get("role") == role]


def check_summary(summary: str, call: dict, notes: str = "") -> SummaryCheck:
    caller = _plain(" ".join(said_by(call, "caller")))
    bot_lines = [_plain(s) for text in said_by(call, "bot") for s in sentences(text)]
    summary_sentences = sentences(summary)
    repeated = []
    for sentence in summary_sentences:
        plain = _plain(sentence)
        if len(plain.split()) < 4 or plain in caller:
            continue
        for bot in bot_lines:
            if len(bot.split()) < 4:
                continue
            if bot in plain or plain in bot or fuzz.ratio(plain, bot) >= 85:
                repeated.append(sentence)
                break
    known = f" {caller} {_plain(notes)} "
    unsupported = []
    for sentence in summary_sentences:
        words = _WORD.findall(sentence)
        for n, word in enumerate(words):
            low = word.lower().strip("'’")
            figure = word[0].isdigit() or low in _NUMBER_WORDS
            name = n > 0 and word[0].isupper() and low not in _PLAIN
            if (figure or name) and f" {low.rstrip('.,:')} " not in known:
                unsupported.append(word)
    words = set(known.split())
    stems = {w[:5] for w in words}
    foreign = [
        word
        for word in _plain(summary).split()
        if len(word) > 3
        and word[0].isalpha()
        and word not in _REPORTING
        and word not in _PLAIN
        and word[:5] not in stems
        and word[:3] not in words  # "fixed" after "fix"
        and word[:4] not in words
    ]
    said = [_plain(s) for s in summary_sentences]
    looped = [s for n, s in enumerate(said) if s in said[:n]]
    return SummaryCheck(
        tuple(repeated),
        tuple(dict.fromkeys(unsupported)),
        tuple(dict.fromkeys(foreign)),
        tuple(dict.fromkeys(looped)),
    )
