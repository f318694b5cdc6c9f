"""The company's own names, heard through a phone line: a slip taken as the name it sounds like.

A small Whisper hears rare names as ordinary or invented words: "Quillfern" as "Wilfern",
"Quilford" or "Quill fern", "Fenwick" as "Fenwik". One such slip used to turn a question the
notes answer into "I don't know" (an unknown name is something the notes never mention). So a
heard word that the notes never use, and that sounds like one of their names, is taken as that
name for answering: Metaphone keys (jellyfish) compared by edit distance (rapidfuzz), with the
spelling's own distance beside them. What was heard is kept; the correction is stored beside
it.

A word that is only like a name stays as heard: a real other place ("Germany", "Ireland"), a
common word at a sentence's start ("Welcome"), a short word ("Rose" is not "Rosa": four
letters carry too little sound to tell a slip from another word). Where the speech-to-text
model's vocabulary is known (:func:`use_vocabulary`), a word it writes as one token is a
word it knows ("portable", "Madrid"), never a slip; the words it pieces together
("quillford", "Wilfern") may be, in lower case too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from rapidfuzz import fuzz

from ceoline.trust.facts import stem
from ceoline.trust.grounding import STOPWORDS

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
# Only letters, spaces or a hyphen between two words Whisper split out of one name.
_JOINABLE = re.compile(r"[ -]")
# Fewer letters than this carry too little sound to tell a slip from another word.
MIN_LETTERS = 5
# Two names within this much (sound + spelling, of 200) of each other are both as likely.
AMBIGUOUS = 10


@dataclass(frozen=True)
class NameFix:
    heard: str  # as Whisper wrote it: "Wilfern", "Quill fern"
    name: str  # as the notes write it: "Quillfern"
    sound: float  # Metaphone keys' similarity, 0-100
    spelling: float  # the words' own similarity, 0-100


@dataclass(frozen=True)
class Understood:
    """The caller's words with the company's names put right, and what was put right."""

    heard: str
    text: str
    fixes: tuple[NameFix, ...] = ()

    @property
    def changed(self) -> bool:
        return self.text != self.heard


_one_token: Callable[[str], bool] | None = None


def use_vocabulary(
    one_token: Callable[[str], bool] | None,
) -> Callable[[str], bool] | None:
    """Tell the matcher which words the speech-to-text model knows whole: ``one_token(word)``
    is True when its tokenizer writes ``word`` (as heard, after a space) as one token. Set
    once per process, when the model loads; returns the one it replaces."""
    global _one_token
    previous, _one_token = _one_token, one_token
    return previous


@lru_cache(maxsize=4096)
def _sound(word: str) -> str:
    return jellyfish.metaphone(word)


def sounds_like(heard: str, name: str, name_like: bool) -> tuple[float, float] | None:
    """(sound, spelling) similarity when ``heard`` may be a slip for ``name``, else None.

    Both lower case. ``name_like``: Whisper wrote it capitalised, or it is two heard words
    joined; a plain lower-case word must be spelled almost the same to count."""
    if len(heard) < MIN_LETTERS or len(name) < MIN_LETTERS:
        return None
    spelling = fuzz.ratio(heard, name)
    sound = fuzz.ratio(_sound(heard), _sound(name))
    if spelling >= 85 or (
        name_like and ((sound >= 80 and spelling >= 70) or (sound >= 75 and spelling >= 80))
    ):
        return sound, spelling
    return None


class CompanyNames:
    """The names the notes use, ready to be matched against what a caller was heard to say.

    ``names`` are single words as written ("Quillfern", "Fenwick"); ``words`` every word the
    notes use, in lower case: a heard word among them is no slip.
    """

    def __init__(self, names: Iterable[str], words: Iterable[str] = ()):
        self.words = {w.lower() for w in words}
        self.names: dict[str, str] = {}
        for name in names:
            for part in name.split():
                if len(part) >= MIN_LETTERS and not part.isupper() and part.isalpha():
                    self.names.setdefault(part.lower(), part)

    def understand(self, text: str) -> Understood:
        """``text`` with every heard slip for one of the names replaced by that name."""
        if not self.names or not text:
            return Understood(text, text)
        words = list(_WORD.finditer(text))
        out, fixes, last, i = [], [], 0, 0
        while i < len(words):
            match, taken = self._fix_at(text, words, i)
            if match is None:
                i += 1
                continue
            start, end = words[i].start(), words[i + taken - 1].end()
            heard = text[start:end]
            suffix = "'s" if heard.lower().endswith("'s") else ""
            out += [text[last:start], match.name + suffix]
            fixes.append(match)
            last, i = end, i + taken
        out.append(text[last:])
        return Understood(text, "".join(out), tuple(fixes))

    def _fix_at(self, text: str, words: list[re.Match], i: int) -> tuple[NameFix | None, int]:
        first, word = words[i], words[i].group()
        if i + 1 < len(words):
            second = words[i + 1]
            between = text[first.end() : second.start()]
            joined = word + second.group()
            # "Quill fern" is the name even though "quill" and "fern" are words of the notes.
            exact = joined.lower().removesuffix("'s") in self.names
            if _JOINABLE.fullmatch(between) and (
                exact or not (self._known(word) or self._known(second.group()))
            ):
                found = self._closest(f"{word}{between}{second.group()}", joined, True)
                if found is not None:
                    return found, 2
        if self._known(word):
            return None, 1
        if _one_token is not None:
            if _one_token(word.removesuffix("'s")):
                return None, 1  # a word the model knows whole: heard as said
            return self._closest(word, word, True), 1
        return self._closest(word, word, word[0].isupper()), 1

    def _known(self, word: str) -> bool:
        lower = word.lower().removesuffix("'s")
        return lower in self.words or lower in self.names or lower in STOPWORDS

    def _closest(self, heard: str, as_one: str, name_like: bool) -> NameFix | None:
        key = as_one.lower().removesuffix("'s")
        if key in self.names:
            return NameFix(heard, self.names[key], 100.0, 100.0)  # "Quill fern"
        if key in self.words:
            return None
        found = []
        for lower, name in self.names.items():
            if key.startswith(lower) and stem(key) == stem(lower):
                continue  # the name's own plural or possessive: "Streets" is not a slip
            scores = sounds_like(key, lower, name_like)
            if scores is not None:
                found.append((scores[0] + scores[1], NameFix(heard, name, *scores)))
        if not found:
            return None
        found.sort(key=lambda pair: -pair[0])
        if len(found) > 1 and found[0][0] - found[1][0] < AMBIGUOUS:
            return None  # two names sound about as alike: no guess
        return found[0][1]


def notes_words(texts: Iterable[str]) -> set[str]:
    """Every word the notes use, in lower case, and the stems of those they write in lower
    case ("offices" is no slip for "office"); a name's stem is not a word ("Whitcomb")."""
    out = set()
    for text in texts:
        for word in _WORD.findall(text):
            out.add(word.lower())
            if word.islower():
                out.add(stem(word))
    return out
