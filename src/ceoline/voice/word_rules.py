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


_STOP_REQUEST = re.compile(
    r"\b(wait|stop|hold on|hang on|sorry|excuse me|no|actually|one moment|one second|pardon)\b",
    re.IGNORECASE,
)


def is_stop_request(text: str) -> bool:
    """A short interruption that asks the bot to stop ("wait", "hold on", "no")."""
    return bool(_STOP_REQUEST.search(text))


def looks_unfinished(text: str) -> bool:
    """The words so far stop mid-sentence: "I think that..." or a trailing comma."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith(("...", "…", ",", "-", "—")):
        return True
    words = _tokens(stripped)
    return bool(words) and words[-1] in _UNFINISHED_ENDINGS and not stripped.endswith(("?", "!"))
