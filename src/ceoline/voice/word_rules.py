"""Word rules over a caller's transcript: is it a backchannel ("mm-hm"), a request to stop,
or words that stop mid-sentence? Cheap and deterministic, so they run on every turn, with the
word sets of the line's language (:mod:`ceoline.trust.languages`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ceoline.trust.languages import ENGLISH, Words


def has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text.lower())


def echoes(text: str, said: str) -> bool:
    """``text``, heard on the line while the bot spoke, is the bot's own ``said`` words coming
    back (an echo the canceller let through): three in four of its words are the bot's."""
    heard = _tokens(text)
    spoken = set(_tokens(said))
    return bool(heard) and sum(w in spoken for w in heard) >= 0.75 * len(heard)


@dataclass(frozen=True)
class WordRules:
    words: Words

    def is_backchannel(self, text: str) -> bool:
        """Listening noises ("mm-hm", "yeah", "okay, right") rather than a turn."""
        words = _tokens(text)
        return bool(words) and len(words) <= 3 and all(w in self.words.backchannels for w in words)

    def is_stop_request(self, text: str) -> bool:
        """A short interruption that asks the bot to stop ("wait", "hold on", "no")."""
        return bool(self.words.stop_request.search(text))

    def looks_unfinished(self, text: str) -> bool:
        """The words so far stop mid-sentence ("I think that...", a trailing comma) or have
        not started it ("Well, you see.")."""
        stripped = text.strip()
        if not stripped:
            return False
        if stripped.endswith(("...", "…", ",", "-", "—")):
            return True
        words = _tokens(stripped)
        if words and all(w in self.words.prefaces for w in words):
            return True
        either = self.words.either_ending
        if (
            either
            and words[-1:] == [either]
            and (len(words) < 2 or words[-2] not in self.words.asking)
        ):
            return False  # "...with you", "thank you": an object here, not a subject
        return (
            bool(words)
            and words[-1] in self.words.unfinished_endings
            and not stripped.endswith(("?", "!"))
        )

    def is_question(self, text: str) -> bool:
        """The words ask something: a question mark, or a question's opening word."""
        stripped = text.strip()
        return stripped.endswith("?") or bool(self.words.question_openers.match(stripped))


ENGLISH_WORDS = WordRules(ENGLISH.words)
# The English rules by name, for the English-only tools (the turn evals and training).
is_backchannel = ENGLISH_WORDS.is_backchannel
is_stop_request = ENGLISH_WORDS.is_stop_request
looks_unfinished = ENGLISH_WORDS.looks_unfinished
is_question = ENGLISH_WORDS.is_question
