"""Train the turn reader (:mod:`ceoline.voice.turn_reader`) and score it on held-out turns.

The examples are caller turns from the project's labelled sets, each cut after every word:
the whole turn is finished, every cut inside it is not. Cuts the word rules already hold
("I think that", "the invoice and") never reach the reader on a call, so they are left out
here too; a cut right after a sentence's closing mark inside a turn ("It crashed. | Then…")
is left out of training, because nothing in the words can tell it from a finished turn (the
sound and the silence decide there), and scored apart.

A call reads Whisper's words, not the caller's: the heard set (``scripts/make_heard_turns.py``)
holds the written caller turns as Whisper hears them said by Piper and espeak-ng, wideband and
through 8 kHz µ-law, and the pause set's early transcripts at every hold and every end. A held
transcript is not finished, even where its last word is.

Every example is read by the reply model exactly as a call reads it (``read_end``): after the
persona's system prompt and, for half of the turns, one or two exchanges of an earlier
conversation, as the caller's later turns are read.

Each set keeps its own split: the reader is fitted on the tune turns only, and the report
gives ROC AUC on both parts, over all cuts and over statements (not questions) alone.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ceoline.errors import CeolineError
from ceoline.trust.dialogue import repair_question
from ceoline.voice.llm import Message, closing_words
from ceoline.voice.turn_reader import FORMAT, FeatureTokens, feature_names, features
from ceoline.voice.word_rules import is_question, looks_unfinished

WORD = re.compile(r"\S+")
# The regularisation chosen on the tune part alone (cross-validated by turn, see fit()).
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class SourceSet:
    """A labelled set that holds caller turns: where it is and how to read them."""

    name: str
    path: str  # relative to the project root


SOURCES = (
    SourceSet("insights calls", "tests/data/insights/calls.jsonl"),
    SourceSet("persona corpus", "configs/persona/corpus.jsonl"),
    SourceSet("persona held-out", "configs/persona/heldout.jsonl"),
    SourceSet("company questions", "tests/data/company_questions.jsonl"),
    SourceSet("pause set", "tests/data/turns/turns.jsonl"),
    SourceSet("caller turns", "configs/turns/caller_turns.jsonl"),
    SourceSet("heard turns", "configs/turns/heard_turns.jsonl"),
)
# The earlier conversation some turns are read after: persona prompts and replies.
HISTORY = "configs/persona/corpus.jsonl"


@dataclass(frozen=True)
class CallerTurn:
    text: str
    split: str  # "tune" | "heldout"
    source: str
    finished: bool = True  # False: the words a caller held after and then went on
    heard: bool = False  # Whisper's transcript of the turn spoken, not the written turn


@dataclass(frozen=True)
class Cut:
    words: str
    finished: bool
    at_mark: bool  # right after a closing mark inside the turn


def _rows(path: Path):
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise CeolineError(f"{path}:{n}: not JSON ({exc.msg}); fix the line") from None


def caller_turns(root: Path) -> list[CallerTurn]:
    """Every caller turn of the labelled sets once, with its set's split."""
    found: list[CallerTurn] = []
    for source in SOURCES:
        path = root / source.path
        if not path.is_file():
            raise CeolineError(f"{path} not found; the turn reader trains on the project's sets")
        for row in _rows(path):
            if "heard" in row:  # what Whisper made of a spoken turn, at a hold or its end
                found.append(
                    CallerTurn(row["heard"], row["split"], source.name, row["finished"], True)
                )
            elif "turns" in row:  # a call: its caller's turns
                found += [
                    CallerTurn(t["text"], row["split"], source.name)
                    for t in row["turns"]
                    if t["role"] == "caller"
                ]
            elif "prompt" in row:  # the persona's sets: the split is the file
                split = "heldout" if source.name == "persona held-out" else "tune"
                found.append(CallerTurn(row["prompt"], split, source.name))
            elif "question" in row:
                found.append(CallerTurn(row["question"], row.get("split") or "tune", source.name))
            else:
                found.append(CallerTurn(row["text"], row.get("split") or "tune", source.name))
    seen: dict[tuple[str, bool], CallerTurn] = {}
    for turn in found:
        text = " ".join(turn.text.split())
        if len(WORD.findall(text)) < 2:
            continue
        key = (text, turn.finished)
        # A text in both parts counts as held out: it must never be tuned on.
        if key not in seen or turn.split == "heldout":
            seen[key] = CallerTurn(text, turn.split, turn.source, turn.finished, turn.heard)
    return list(seen.values())


def cuts(text: str, finished: bool = True) -> list[Cut]:
    """A cut after every word whose words the word rules leave to the reader; the last is
    finished when the turn is."""
    ends = [m.end() for m in WORD.finditer(text)]
    out = []
    for i, end in enumerate(ends):
        words = closing_words(text[:end])
        if not words or looks_unfinished(words):
            continue
        last = i == len(ends) - 1
        out.append(Cut(words, last and finished, not last and text[:end].rstrip()[-1] in ".?!"))
    return out


def earlier_exchanges(root: Path) -> list[tuple[Message, Message]]:
    """Caller and persona messages a later turn can be read after."""
    path = root / HISTORY
    if not path.is_file():
        raise CeolineError(f"{path} not found; the turn reader reads some turns after it")
    return [
        (Message("user", row["prompt"]), Message("assistant", row["reply"])) for row in _rows(path)
    ]


def context_of(
    text: str, system_prompt: str, exchanges: Sequence[tuple[Message, Message]]
) -> list[Message]:
    """What precedes the turn's words: the system prompt, then for half of the turns one or
    two earlier exchanges (chosen by the text, so a turn is always read after the same)."""
    seed = zlib.crc32(text.encode())
    context = [Message("system", system_prompt)]
    if exchanges:
        for k in range((0, 0, 1, 2)[seed % 4]):
            context += exchanges[(seed // 4 + 7 * k) % len(exchanges)]
    return context


@dataclass
class Examples:
    x: np.ndarray
    finished: np.ndarray
    question: np.ndarray
    at_mark: np.ndarray
    heldout: np.ndarray
    turn: np.ndarray  # index of the turn each cut came from
    heard: np.ndarray  # from Whisper's transcript of a spoken turn
    words: list[str]
    seconds: float


def read_examples(
    llm,
    system_prompt: str,
    turns: list[CallerTurn],
    exchanges: Sequence[tuple[Message, Message]] = (),
) -> Examples:
    """Every cut of every turn, read by the reply model ``llm`` after ``system_prompt`` and
    the turn's earlier exchanges (:func:`context_of`; none when ``exchanges`` is empty)."""
    tokens = FeatureTokens.resolve(llm)
    rows, meta, words = [], [], []
    started = time.perf_counter()
    for k, turn in enumerate(turns):
        question = is_question(repair_question(turn.text))
        context = context_of(turn.text, system_prompt, exchanges)
        for cut in cuts(turn.text, turn.finished):
            reading = llm.read_end(context, cut.words)
            if reading is None:
                raise CeolineError("the reply model has no chat template; it cannot read turns")
            rows.append(features(reading, cut.words, tokens))
            meta.append(
                (cut.finished, question, cut.at_mark, turn.split == "heldout", k, turn.heard)
            )
            words.append(cut.words)
    m = np.array(meta, dtype=np.int64).reshape(-1, 6)
    return Examples(
        np.stack(rows),
        m[:, 0].astype(bool),
        m[:, 1].astype(bool),
        m[:, 2].astype(bool),
        m[:, 3].astype(bool),
        m[:, 4],
        m[:, 5].astype(bool),
        words,
        time.perf_counter() - started,
    )


def fit(examples: Examples) -> tuple[dict, float]:
    """Fit on the tune cuts (not those after a closing mark), C chosen by 5-fold
    cross-validation grouped by turn. Returns the weights and the chosen C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    use = ~examples.heldout & ~examples.at_mark
    x, y, groups = examples.x[use], examples.finished[use], examples.turn[use]

    def model(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))

    scores = {
        c: cross_val_score(
            model(c), x, y, groups=groups, cv=GroupKFold(5), scoring="roc_auc"
        ).mean()
        for c in C_GRID
    }
    c = max(scores, key=scores.get)
    pipeline = model(c).fit(x, y)
    scaler, regression = pipeline[0], pipeline[1]
    weights = {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": regression.coef_[0].tolist(),
        "intercept": float(regression.intercept_[0]),
    }
    return weights, c


def score(examples: Examples, p: np.ndarray) -> dict:
    """ROC AUC on each part: all cuts the reader sees on a call, statements alone (all,
    written, heard), and with the cuts after a closing mark inside a turn (which words cannot
    tell)."""
    from sklearn.metrics import roc_auc_score

    def auc(mask) -> float | None:
        y = examples.finished[mask]
        return round(float(roc_auc_score(y, p[mask])), 4) if 0 < y.sum() < len(y) else None

    out = {}
    for part, mask in (("tune", ~examples.heldout), ("heldout", examples.heldout)):
        plain = mask & ~examples.at_mark
        out[part] = {
            "turns": len(np.unique(examples.turn[mask])),
            "cuts": int(mask.sum()),
            "auc": auc(plain),
            "statements_auc": auc(plain & ~examples.question),
            "written_statements_auc": auc(plain & ~examples.question & ~examples.heard),
            "heard_statements_auc": auc(plain & ~examples.question & examples.heard),
            "questions_auc": auc(plain & examples.question),
            "auc_with_cuts_after_a_mark": auc(mask),
        }
    return out


def reading_auc(examples: Examples) -> dict:
    """The same report for today's reading alone: P(end of message) (the first feature)."""
    return score(examples, examples.x[:, 0])


def write_reader(path: Path, weights: dict, model_sha256: str, report: dict) -> None:
    """Written whole to a temporary file first, so a failed run leaves the old reader."""
    data = {
        "format": FORMAT,
        "model_sha256": model_sha256,
        "features": feature_names(),
        **weights,
        "report": report,
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)
