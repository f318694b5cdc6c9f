"""Word rules over a caller's transcript: is it a backchannel ("mm-hm"), a request to stop,
or words that stop mid-sentence? Cheap and deterministic, so they run on every turn."""

from __future__ import annotations

import re


def has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


_BACKCHANNEL = {
    "mm",
    "mmm",
    "hmm",
    "hm",
    "mhm",
    "mm-hm",
    "mm-hmm",
    "uh-huh",
    "uh",
    "um",
    "yeah",
    "yes",
    "yep",
    "ok",
    "okay",
    "right",
    "sure",
    "i",
    "see",
    "got",
    "it",
    "cool",
    "alright",
    "ah",
    "oh",
    "aha",
    "true",
    "exactly",
    "indeed",
    "nice",
    "great",
}
_UNFINISHED_ENDINGS = {
    "and",
    "but",
    "or",
    "so",
    "because",
    "that",
    "the",
    "a",
    "an",
    "to",
    "of",
    "with",
    "for",
    "like",
    "um",
    "uh",
    "i",
    "my",
    "is",
    "was",
    "if",
    "when",
    "which",
    "who",
    "think",
    "mean",
    "about",
    "in",
    "on",
    "at",
    "your",
    "our",
    "then",
    "also",
    "maybe",
    "just",
    "we",
    "you",
}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower())


def is_backchannel(text: str) -> bool:
    """Listening noises ("mm-hm", "yeah", "okay, right") rather than a turn."""
    words = _tokens(text)
    return bool(words) and len(words) <= 3 and all(w in _BACKCHANNEL for w in words)


def echoes(text: str, said: str) -> bool:
    """``text``, heard on the line while the bot spoke, is the bot's own ``said`` words coming
    back (an echo the canceller let through): three in four of its words are the bot's."""
    heard = _tokens(text)
    spoken = set(_tokens(said))
    return bool(heard) and sum(w in spoken for w in heard) >= 0.75 * len(heard)


_STOP_REQUEST = re.compile(
    r"\b(wait|stop|hold on|hang on|sorry|excuse me|no|actually|one moment|one second|pardon)\b",
    re.IGNORECASE,
)


def is_stop_request(text: str) -> bool:
    """A short interruption that asks the bot to stop ("wait", "hold on", "no")."""
    return bool(_STOP_REQUEST.search(text))


# Words that open a turn without saying anything yet ("Honestly... the app is slow"): a turn
# of nothing else is a caller gathering their thoughts. "OK", "yes" and "right" are not here:
# said alone they answer the bot's question.
_PREFACES = {
    "well", "honestly", "so", "um", "uh", "er", "erm", "hmm", "look", "listen", "basically",
    "actually", "frankly", "see", "you", "i", "mean", "like", "now", "then",
}  # fmt: skip


# Before a final "you" these make it the subject of a question still to come ("can you...").
_ASKING = {
    "do", "did", "does", "can", "could", "would", "will", "should", "are", "were", "have",
    "if", "when", "and", "but", "so", "that", "as",
}  # fmt: skip


def looks_unfinished(text: str) -> bool:
    """The words so far stop mid-sentence ("I think that...", a trailing comma) or have not
    started it ("Well, you see.")."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith(("...", "…", ",", "-", "—")):
        return True
    words = _tokens(stripped)
    if words and all(w in _PREFACES for w in words):
        return True
    if words[-1:] == ["you"] and (len(words) < 2 or words[-2] not in _ASKING):
        return False  # "...with you", "thank you": "you" ends as an object, not a subject
    return bool(words) and words[-1] in _UNFINISHED_ENDINGS and not stripped.endswith(("?", "!"))


# A sentence that opens with one of these asks something, question mark or not: Whisper drops
# the mark when a question ends on a level pitch ("When was Quillfern founded and by whom").
_QUESTION_OPENERS = re.compile(
    r"^(?:(?:so|and|but|okay|ok|well|hi|hey|hello|sorry|excuse me)[,.]?\s+)*"
    r"(?:what|when|where|who|whom|whose|which|why|how|can|could|would|will|do|does|did|is|"
    r"are|was|were|have|has|may|should)\b",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """The words ask something: a question mark, or a question's opening word."""
    stripped = text.strip()
    return stripped.endswith("?") or bool(_QUESTION_OPENERS.match(stripped))
