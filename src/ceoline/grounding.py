"""Keeping answers about the company to what the notes say.

A small model given the right notes still invents dates and numbers. An answer is accepted
only when it shares the notes' substance and states no number the notes do not; otherwise
the best-matching sentences of the notes are read out instead.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_COMMON = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "by",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "its",
    "we",
    "our",
    "us",
    "you",
    "your",
    "i",
    "my",
    "me",
    "that",
    "this",
    "what",
    "when",
    "where",
    "who",
    "how",
    "why",
    "which",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "should",
    "will",
    "about",
    "from",
    "as",
    "so",
    "they",
    "them",
    "their",
    "there",
    "here",
    "have",
    "has",
    "had",
    "not",
    "no",
    "yes",
    "tell",
    "know",
    "like",
    "just",
    "really",
    "very",
    "quillfern",
    "company",
}


def content_words(text: str) -> set[str]:
    """The words that carry meaning: no stopwords, no very short words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON and len(w) > 2}


def _numbers(text: str) -> set[str]:
    return {n.strip(".,").replace(",", "") for n in _NUMBER.findall(text)}


def is_grounded(answer: str, notes: tuple[str, ...]) -> bool:
    source = " ".join(notes)
    if _numbers(answer) - _numbers(source):
        return False  # a date or figure the notes do not contain
    shared = content_words(answer) & content_words(source)
    return len(shared) >= 2


def extractive_answer(question: str, notes: tuple[str, ...], max_sentences: int = 2) -> str:
    """The sentences of the notes that best match the question, in their original order."""
    wanted = content_words(question)
    sentences = [s.strip() for note in notes[:1] for s in _SENTENCE.split(note) if s.strip()]
    if not sentences:
        return ""
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (-len(content_words(sentences[i]) & wanted), i),
    )
    keep = sorted(scored[:max_sentences])
    return " ".join(sentences[i] for i in keep)
