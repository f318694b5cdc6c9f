"""Split the LLM's token stream into speakable pieces as early as prosody allows.

The first piece may end at a clause (a comma after a few words) so the caller hears the bot
within a few tokens; later pieces prefer whole sentences, which Piper voices more naturally.
"""

from __future__ import annotations

import re

from ceoline.config import ChunkerConfig

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "inc",
    "ltd",
    "co",
    "jr",
    "sr",
    "no",
    "approx",
    "dept",
    "u.s",
}
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|\s[-–—]\s")
_MARKUP = re.compile(r"[*_#`~<>|\[\]{}]+")
_LIST_MARKER = re.compile(r"(^|\n)\s*(?:[-•]|\d+[.)])\s+")
_NON_SPEECH = re.compile(r"[^\w\s.,;:!?'\"()%$€£&/+\-–—…]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def clean_for_speech(text: str) -> str:
    """Drop markdown, list markers and emoji that a text-to-speech voice would read or choke on."""
    text = _LIST_MARKER.sub(r"\1", text)
    text = _MARKUP.sub(" ", text)
    text = _NON_SPEECH.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def ends_sentence(piece: str) -> bool:
    return piece.rstrip("\"')] ").endswith((".", "!", "?", "…"))


def _words(text: str) -> int:
    return len(text.split())


def _is_abbreviation(text: str, end: int) -> bool:
    head = text[:end].rstrip(".!?…\"')]").split()
    if not head:
        return False
    word = head[-1].lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


class Sentences:
    """Whole sentences out of a text stream: the chunker's pieces, joined until one ends.

    What is checked as a claim must be a sentence, not the clause the chunker speaks first.
    An unfinished last sentence never comes out.
    """

    def __init__(self, config: ChunkerConfig):
        self._chunker = Chunker(config)
        self._pending = ""

    def feed(self, delta: str) -> list[str]:
        done = []
        for piece in self._chunker.feed(delta):
            self._pending = f"{self._pending} {piece}".strip()
            if ends_sentence(self._pending):
                done.append(self._pending)
                self._pending = ""
        return done


class Chunker:
    """Feed text deltas with :meth:`feed`; each call returns the pieces it completed."""

    def __init__(self, config: ChunkerConfig):
        self.config = config
        self._buffer = ""
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces = []
        while (piece := self._take()) is not None:
            pieces.append(piece)
        return pieces

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return [rest.strip()] if rest.strip() else []

    def _min_clause_words(self) -> int:
        return self.config.first_chunk_min_words if self._emitted == 0 else self.config.min_words

    def _cut(self, end: int) -> str:
        piece, self._buffer = self._buffer[:end].strip(), self._buffer[end:]
        self._emitted += 1
        return piece

    def _take(self) -> str | None:
        text = self._buffer
        for match in _SENTENCE_END.finditer(text):
            is_break = match.group().startswith("\n") or not _is_abbreviation(text, match.end())
            if is_break and text[: match.end()].strip():
                return self._cut(match.end())
        min_words = self._min_clause_words()
        for match in _CLAUSE_END.finditer(text):
            if _words(text[: match.end()]) >= min_words:
                return self._cut(match.end())
        if _words(text) > self.config.max_words:
            cut = text.rstrip().rfind(" ")
            if cut > 0:
                return self._cut(cut)
        return None
