"""Company questions through the real path: spoken, heard, answered, scored.

Each labelled question is spoken by the bot's own Piper voice and by espeak-ng (a voice the
system never hears otherwise), on a wideband line and through 8 kHz µ-law, transcribed by
Whisper (with and without the company's names as hotwords, to measure what they are worth),
decided by the dialogue policy and answered as a call answers: the notes' opening sentence,
then what the model adds and the notes back. A reply is correct when it states the expected
fact and none of the wrong ones; a question the notes cannot answer must get the honest
"I don't know". A few questions also go through whole simulated calls, asked after the
greeting, for the response time a caller hears.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ceoline.errors import CeolineError
from ceoline.trust.answers import may_follow
from ceoline.trust.dialogue import Action, DialoguePolicy
from ceoline.trust.facts import mentions, tokens
from ceoline.trust.grounding import question_with_notes, split_sentences
from ceoline.trust.languages import ENGLISH, Language
from ceoline.voice import espeak
from ceoline.voice.audio import SAMPLE_RATE, through_phone_line
from ceoline.voice.chunker import Sentences
from ceoline.voice.llm import Message
from ceoline.voice.simulate import ScriptedCaller, run_call
from ceoline.voice.timings import percentile

# "text": the question's words as written, not spoken, to tell hearing from answering.
VOICES = ("piper", "espeak", "text")
LINES = ("wide", "phone")
# The targets a company answer is held to (see the README).
TARGETS = {"correct": 0.95, "wrong": 0.0, "dont_know": 0.95}


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    facts: tuple[str, ...] = ()
    wrong: tuple[str, ...] = ()
    answerable: bool = True
    # "heldout": written after the rules were tuned and never tuned on; reported apart.
    split: str = "tuning"


def load_questions(path: Path) -> list[Question]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise CeolineError(f"cannot read the question set {path} ({exc.strerror})") from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answerable = bool(row.get("answerable", True))
            question = Question(
                str(row["id"]),
                str(row["question"]),
                tuple(map(str, row.get("fact", ()))),
                tuple(map(str, row.get("wrong", ()))),
                answerable,
                str(row.get("split", "tuning")),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CeolineError(
                f"{path}:{number}: expected a JSON object with id, question, and fact (a list) "
                'or "answerable": false'
            ) from None
        if question.answerable and not question.facts:
            raise CeolineError(f"{path}:{number}: an answerable question needs a 'fact' list")
        out.append(question)
    if not out:
        raise CeolineError(f"{path} holds no questions")
    return out


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference words) between two texts, numbers compared however written."""
    ref = [t.key for t in tokens(reference)]
    hyp = [t.key for t in tokens(hypothesis)]
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)], len(ref)


def names_heard(reference: str, hypothesis: str, names: set[str]) -> tuple[int, int]:
    """(names of ``reference`` that ``hypothesis`` has, names in ``reference``)."""
    said = [t.key for t in tokens(reference) if t.lower in names]
    heard = {t.key for t in tokens(hypothesis)}
    return sum(k in heard for k in said), len(said)


@dataclass
class Outcome:
    question: Question
    voice: str
    line: str
    heard: str
    heard_plain: str  # without hotwords
    reply: str
    dropped: int
    stt_ms: float = 0.0  # Whisper's time for the turn (with the hotwords)
    correct: bool = False
    wrong: bool = False
    honest: bool = False


@dataclass
class AnswerReport:
    outcomes: list[Outcome] = field(default_factory=list)
    responses_ms: list[float] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def _rate(self, picked: list[Outcome], attr: str) -> float | None:
        return sum(getattr(o, attr) for o in picked) / len(picked) if picked else None

    def as_json(self) -> dict:
        answerable = [o for o in self.outcomes if o.question.answerable]
        unknown = [o for o in self.outcomes if not o.question.answerable]
        spoken = [o for o in self.outcomes if o.voice != "text"]  # what was heard at all
        edits = [word_errors(o.question.text, o.heard) for o in spoken]
        plain = [word_errors(o.question.text, o.heard_plain) for o in spoken]
        named = [names_heard(o.question.text, o.heard, self.names) for o in spoken]
        named_plain = [names_heard(o.question.text, o.heard_plain, self.names) for o in spoken]

        def ratio(pairs: list[tuple[int, int]]) -> float | None:
            total = sum(n for _, n in pairs)
            return round(sum(e for e, _ in pairs) / total, 4) if total else None

        by_split = {}
        for split in sorted({o.question.split for o in self.outcomes}):
            mine = [o for o in self.outcomes if o.question.split == split]
            able = [o for o in mine if o.question.answerable]
            by_split[split] = {
                "questions": len({o.question.id for o in mine}),
                "correct_fact_rate": _round(self._rate(able, "correct")),
                "wrong_fact_rate": _round(self._rate(able, "wrong")),
                "dont_know_rate": _round(
                    self._rate([o for o in mine if not o.question.answerable], "honest")
                ),
            }
        by_variant = {}
        for voice in sorted({o.voice for o in self.outcomes}):
            for line in sorted({o.line for o in self.outcomes}):
                picked = [o for o in answerable if o.voice == voice and o.line == line]
                if picked:
                    by_variant[f"{voice}/{line}"] = round(self._rate(picked, "correct"), 4)
        return {
            "answerable": len(answerable),
            "unanswerable": len(unknown),
            "correct_fact_rate": _round(self._rate(answerable, "correct")),
            "wrong_fact_rate": _round(self._rate(answerable, "wrong")),
            "dont_know_rate": _round(self._rate(unknown, "honest")),
            "correct_by_variant": by_variant,
            "by_split": by_split,
            "word_error_rate": ratio(edits),
            "word_error_rate_without_hotwords": ratio(plain),
            "names_heard": _round(_share(named)),
            "names_heard_without_hotwords": _round(_share(named_plain)),
            "dropped_model_sentences": sum(o.dropped for o in self.outcomes),
            "stt_ms_p50": _round_ms(percentile([o.stt_ms for o in spoken], 50)),
            "stt_ms_p95": _round_ms(percentile([o.stt_ms for o in spoken], 95)),
            "response_ms_p50": percentile(self.responses_ms, 50),
            "response_ms_p95": percentile(self.responses_ms, 95),
            "calls": len(self.responses_ms),
            "seconds": round(self.seconds, 1),
            "failures": [
                {
                    "id": o.question.id,
                    "variant": f"{o.voice}/{o.line}",
                    "split": o.question.split,
                    "asked": o.question.text,
                    "heard": o.heard,
                    "reply": o.reply,
                    "wrong": o.wrong,
                }
                for o in self.outcomes
                if not (o.correct if o.question.answerable else o.honest)
            ],
        }

    def meets_targets(self) -> bool:
        data = self.as_json()
        return (
            (data["correct_fact_rate"] or 0) >= TARGETS["correct"]
            and (data["wrong_fact_rate"] or 0) <= TARGETS["wrong"]
            and (data["dont_know_rate"] if data["unanswerable"] else 1) >= TARGETS["dont_know"]
        )


def _share(pairs: list[tuple[int, int]]) -> float | None:
    total = sum(n for _, n in pairs)
    return sum(h for h, _ in pairs) / total if total else None


def _round_ms(value: float | None) -> float | None:
    return None if value is None else round(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# The espeak-ng voice a caller of each line's language is spoken by.
ESPEAK_VOICES = {"en": "en-us", "en-gb": "en-gb", "sv": "sv"}


def _language(engines) -> Language:
    return getattr(engines, "language", None) or ENGLISH


def speak(engines, voice: str, text: str) -> np.ndarray:
    """``voice``: "piper", the line's own voice (the one the system speaks with), or
    "espeak", espeak-ng in the line's language (one it never hears otherwise)."""
    if voice == "piper":
        return engines.synthesizer.synthesize(text).pcm
    if voice == "espeak":
        return espeak.speak(text, voice=ESPEAK_VOICES[_language(engines).code])
    raise CeolineError(f"unknown voice {voice!r}; choose from {', '.join(VOICES)}")


def answer(engines, text: str, unsure: bool = False) -> tuple[str, int]:
    """What a call says to ``text`` as its first turn, and how many model sentences of a
    company answer the notes did not back (so were never spoken). ``unsure``: Whisper was
    guessing at the words (a call asks again rather than let the model make a reply up)."""
    policy = DialoguePolicy(
        engines.config,
        engines.persona,
        engines.knowledge,
        _language(engines),
        model_replies=getattr(engines, "model_replies", True),
    )
    decision = policy.decide(text)
    if unsure:
        decision = policy.unheard(decision)
    if decision.action is not Action.LLM:
        return decision.reply, 0
    if not decision.grounded:
        content = question_with_notes(text, decision.notes)
        return " ".join(engines.spoken_pieces(content, decision.opening)), 0
    spoken = decision.opening
    said = len(split_sentences((spoken,)))
    check = policy.answers.check
    dropped = 0
    sentences = Sentences(engines.config.chunker)
    messages = [
        Message("system", engines.persona.system_prompt()),
        Message("user", question_with_notes(text, decision.notes)),
    ]
    for delta in engines.llm.stream(messages):
        for sentence in sentences.feed(delta):
            if said >= engines.config.llm.max_sentences:
                return spoken, dropped
            ok, _ = may_follow(check, sentence, spoken, text)
            if ok:
                spoken, said = f"{spoken} {sentence}", said + 1
            else:
                dropped += 1
    return spoken, dropped


def score(outcome: Outcome, language: Language = ENGLISH) -> Outcome:
    q = outcome.question
    if q.answerable:
        outcome.wrong = any(mentions(outcome.reply, w) for w in q.wrong)
        outcome.correct = not outcome.wrong and any(mentions(outcome.reply, f) for f in q.facts)
    else:
        outcome.honest = outcome.reply == language.lines.dont_know
    return outcome


def evaluate(
    engines,
    questions: list[Question],
    voices: tuple[str, ...] = VOICES,
    lines: tuple[str, ...] = LINES,
    calls: int = 10,
) -> AnswerReport:
    started = time.perf_counter()
    hotwords = engines.transcriber.hotwords or ""
    report = AnswerReport(names={w.lower() for w in hotwords.split()})
    for question in questions:
        for voice in voices:
            if voice == "text":
                # The words as asked, unheard: what the notes and rules make of them alone.
                reply, dropped = answer(engines, question.text)
                outcome = Outcome(
                    question, voice, "none", question.text, question.text, reply, dropped
                )
                report.outcomes.append(score(outcome, _language(engines)))
                continue
            wide = speak(engines, voice, question.text)
            for line in lines:
                pcm = through_phone_line(wide) if line == "phone" else wide
                transcript = engines.transcriber.transcribe(pcm)
                heard = transcript.text
                plain = engines.transcriber.transcribe(pcm, use_hotwords=False).text
                reply, dropped = answer(engines, heard, transcript.unsure)
                outcome = Outcome(
                    question, voice, line, heard, plain, reply, dropped, transcript.elapsed_ms
                )
                report.outcomes.append(score(outcome, _language(engines)))
    asked = [q for q in questions if q.answerable][:calls]
    for question in asked:
        report.responses_ms += asyncio.run(_call_response(engines, question.text))
    report.seconds = time.perf_counter() - started
    return report


async def _call_response(engines, text: str) -> list[float]:
    """Response times of one simulated call that asks ``text`` after the greeting."""
    pcm = engines.synthesizer.synthesize(text).pcm
    pad = np.zeros(SAMPLE_RATE // 4, dtype=np.int16)
    result = await run_call(
        engines, ScriptedCaller([np.concatenate([pad, pcm, pad])], pause_ms=400), None
    )
    return [
        t.timings.response
        for t in result.turns
        if t.timings is not None and t.timings.response is not None
    ]
