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
# A capitalised word after the first: a name (a person, a place, a product).
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+(?:'[a-z]+)?")
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


def question_with_notes(question: str, notes: tuple[str, ...]) -> str:
    """The caller's words as the model sees them when the notes answer them."""
    if not notes:
        return question
    return f"{question}\n\n(Answer only from these notes: {' '.join(notes)})"


def is_grounded(answer: str, notes: tuple[str, ...], question: str = "") -> bool:
    source = " ".join(notes)
    if _numbers(answer) - _numbers(source):
        return False  # a date or figure the notes do not contain
    shared = content_words(answer) & content_words(source)
    if len(shared) < 2:
        return False
    # On topic is not enough: "when did you open Lisbon?" answered with "Lisbon is lovely"
    # must fail. The answer has to carry a figure or name the best-matching sentence adds.
    facts = key_facts(question, notes) if question else set()
    spoken = {w.lower() for w in _WORD.findall(answer.lower())} | _numbers(answer)
    return not facts or bool(facts & spoken)


def key_facts(question: str, notes: tuple[str, ...]) -> set[str]:
    """Figures and names in the sentence of the notes that best answers ``question``, less
    those the question already says (lower-cased)."""
    best = _best_sentences(question, notes, 1)
    if not best:
        return set()
    sentence = best[0]
    names = {m.group().lower() for m in _NAME.finditer(sentence) if m.start() > 0}
    facts = (_numbers(sentence) | names) - _numbers(question) - _COMMON
    return facts - {w.lower() for w in _WORD.findall(question.lower())}


def _best_sentences(question: str, notes: tuple[str, ...], count: int) -> list[str]:
    wanted = content_words(question)
    sentences = [s.strip() for note in notes[:1] for s in _SENTENCE.split(note) if s.strip()]
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (-len(content_words(sentences[i]) & wanted), i),
    )
    return [sentences[i] for i in scored[:count]]


def extractive_answer(question: str, notes: tuple[str, ...], max_sentences: int = 2) -> str:
    """The sentences of the notes that best match the question, in their original order."""
    best = _best_sentences(question, notes, max_sentences)
    sentences = [s.strip() for note in notes[:1] for s in _SENTENCE.split(note) if s.strip()]
    return " ".join(s for s in sentences if s in best)
