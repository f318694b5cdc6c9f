"""Is the caller's utterance finished? A small classifier over the reply model's reading.

The reply model's P(end of message) after the early transcript (``LanguageModel.end_of_turn``)
tells a finished question from a hold well, but not a finished statement: "…the reports.
Thank you" reads 0.0003, because the model expects a caller may always go on. The whole
next-token distribution says more than that one token: whether the model expects a comma, an
"and", a "to", a closing mark, how sure it is at all. The reader is a logistic regression over
log-probabilities of a fixed set of those tokens (as many as the shared service returns: the
top ``TOP_TOKENS``), the closing marks' P(end) and a few facts about the words, trained by
``ceoline turn train`` on caller turns cut at every word (``ceoline.admin.turn_training``).

It costs nothing at call time: the distribution is the one the end-of-turn reading already
computes, locally or from the shared service. A reader belongs to the reply model it was
trained on (its sha256 is recorded); another model's distribution means something else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ceoline.errors import ModelError
from ceoline.trust.dialogue import repair_question
from ceoline.voice.llm import EndReading, closing_words
from ceoline.voice.word_rules import is_question

FORMAT = "ceoline-turn-reader/1"
# Below this a token counts as absent: outside the top tokens, or a mark not evaluated.
FLOOR = 1e-5
# Next tokens whose chance says the sentence may go on or may close, each a feature.
MARKS = (".", "?", "!", ",", ":", "...")
CONTINUATIONS = (
    " and",
    " to",
    " the",
    " of",
    " a",
    " in",
    " for",
    " that",
    " is",
    " it",
    " with",
    " my",
    " on",
    " but",
    " so",
    " because",
    " or",
    " I",
    " you",
    " we",
    " when",
    " which",
    " was",
    " be",
    " at",
    " as",
    " from",
    " this",
    " if",
    " not",
    " all",
    " more",
    " too",
    " very",
    " about",
    " like",
    " now",
    " please",
    " again",
    " though",
    " anymore",
)


def _log(p: float) -> float:
    return math.log(max(p, FLOOR))


@dataclass(frozen=True)
class FeatureTokens:
    """The ids of the tokens the features read, in one model's vocabulary, and what any
    token is: a mark, the start of a new word, or the rest of the word before it."""

    marks: tuple[int | None, ...]
    continuations: tuple[int | None, ...]
    piece: Callable[[int], str]
    _kinds: dict[int, str] = field(default_factory=dict, compare=False)

    @classmethod
    def resolve(cls, model) -> FeatureTokens:
        """``model``: a reply model (``single_token``, ``token_piece``)."""
        return cls(
            tuple(model.single_token(t) for t in MARKS),
            tuple(model.single_token(t) for t in dict.fromkeys(CONTINUATIONS)),
            model.token_piece,
        )

    def kind(self, token: int) -> str:
        if token not in self._kinds:
            piece = self.piece(token)
            if piece[:1].isspace():
                kind = "word"
            elif piece[:1].isalnum():
                kind = "rest of word"
            else:
                kind = "mark"
            self._kinds[token] = kind
        return self._kinds[token]


def feature_names() -> list[str]:
    return [
        "log p_end",
        "log p(end next)",
        "log p(end after a closing mark)",
        *(f"log p({t!r})" for t in MARKS),
        *(f"log p({t!r})" for t in dict.fromkeys(CONTINUATIONS)),
        "log p(continuations)",
        "log p(a new word)",
        "log p(the rest of a word)",
        "log p(a mark)",
        "log p(top token)",
        "log p(top tokens)",
        "entropy of the top tokens",
        "question",
        "log words",
    ]


def features(reading: EndReading, words: str, tokens: FeatureTokens) -> np.ndarray:
    """The reader's input for ``words`` (Whisper's early transcript) and the reply model's
    reading after them."""
    top = reading.after_words
    probs = np.array(sorted(top.values(), reverse=True) or [FLOOR])
    mass = float(probs.sum())
    shares = probs / mass
    continuation = sum(top.get(t, 0.0) for t in tokens.continuations if t is not None)
    after_mark = max(reading.after_closers.values(), default=0.0)
    kinds = {"word": 0.0, "rest of word": 0.0, "mark": 0.0}
    for token, p in top.items():
        if token != reading.turn_end:
            kinds[tokens.kind(token)] += p
    return np.array(
        [
            _log(reading.p_end),
            _log(top.get(reading.turn_end, 0.0)),
            _log(after_mark),
            *(_log(top.get(t, 0.0)) if t is not None else _log(0.0) for t in tokens.marks),
            *(_log(top.get(t, 0.0)) if t is not None else _log(0.0) for t in tokens.continuations),
            _log(continuation),
            _log(kinds["word"]),
            _log(kinds["rest of word"]),
            _log(kinds["mark"]),
            _log(float(probs[0])),
            _log(mass),
            float(-(shares * np.log(shares)).sum()),
            float(is_question(repair_question(words))),
            math.log(1 + len(closing_words(words).split())),
        ]
    )


@dataclass(frozen=True)
class TurnReader:
    """A trained reader: standardise the features, then a logistic regression."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    model_sha256: str
    tokens: FeatureTokens

    def p_finished(self, reading: EndReading, words: str) -> float:
        """P(the caller has finished after ``words``), from the reply model's reading."""
        return float(self.probabilities(features(reading, words, self.tokens)[None, :])[0])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(finished) for rows of :func:`features`."""
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1 / (1 + np.exp(-np.clip(z, -50, 50)))

    @classmethod
    def from_weights(cls, weights: dict, model_sha256: str, model) -> TurnReader:
        return cls(
            *(np.asarray(weights[k], dtype=np.float64) for k in ("mean", "scale", "coef")),
            float(weights["intercept"]),
            model_sha256,
            FeatureTokens.resolve(model),
        )

    @classmethod
    def load(cls, path: Path, model, model_sha256: str | None) -> TurnReader:
        """Read a reader written by ``ceoline turn train`` for the reply model ``model``;
        refused with the fix when it is not one, or was trained on another reply model than
        ``model_sha256``."""
        weights = read_weights(path, model_sha256)
        return cls.from_weights(weights, weights["model_sha256"], model)


def read_weights(path: Path, model_sha256: str | None) -> dict:
    """A reader file's contents, checked: its format, its features, its weights' shapes, and
    (unless ``model_sha256`` is None) that it was trained on that reply model."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        names = feature_names()
        if data["features"] != names:
            raise ValueError("its features are not this version's")
        for key in ("mean", "scale", "coef"):
            if np.asarray(data[key], dtype=np.float64).shape != (len(names),):
                raise ValueError("its weights do not match its features")
        float(data["intercept"])
        trained_on = str(data["model_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"turn reader {path} is unusable ({exc}); rebuild it with `ceoline turn train`"
        ) from None
    if model_sha256 is not None and trained_on != model_sha256:
        raise ModelError(
            f"turn reader {path.name} was trained on another reply model (sha256 "
            f"{trained_on[:12]}, this one {model_sha256[:12]}); retrain it with `ceoline turn "
            'train`, or set [models] turn_reader = "" to leave statements to the turn model'
        )
    return data
