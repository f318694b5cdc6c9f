"""Score turn-taking on the labelled pause set (tests/data/turns/), causally.

Each turn is fed 20 ms at a time through the call's own endpointer, as a live call hears it.
What the call would compute at a pause (the early transcript, the turn model's verdicts) is
computed for real, on the audio so far, and its result only counts from the moment it would
have arrived: the pause's time plus the measured inference time. So a verdict that lands after
the caller spoke again is void, as on a call.

The bot "starts" when the turn is judged over and the words so far do not hang mid-sentence
(the call waits ``[vad] unfinished_extra_ms`` more on those, and joins the turns if the caller
goes on). The turn model's "finished" only ends a turn once the early transcript is in too and
does not hang: the reply needs that transcript anyway, so waiting for it costs no time.
Starting inside a hold is a false cut-off. On finished turns the end-of-turn delay is the
judgement's moment minus the true end of speech, from the set's labels.

Two policies run over the same audio in the same run: the fixed window (``[vad]
end_of_turn_ms``, the unfinished extension when the early transcript arrives in time) and the
turn model (asked at ``[turn] pause_ms``, then every ``recheck_ms``) with the reply model's
reading of the early transcript (computed for real too, landing after its measured time), both
weighed by ``voice.turn_judge.ends_turn``, ``fallback_ms`` at most.
Wasted work is what each would have started at a pause the caller then spoke on.

What the models give for a piece of audio or words (and the time they took) is kept in a
:class:`Memo`: several ``[turn]`` settings can be replayed over the same set at the cost of
the first (``scripts/turn_sweep.py``), each result still landing after its measured time.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE, through_phone_line
from ceoline.voice.endpointing import (
    Endpointer,
    SpeechPaused,
    SpeechResumed,
    TurnCheck,
    TurnEnded,
)
from ceoline.voice.llm import EndReading, Message
from ceoline.voice.timings import percentile
from ceoline.voice.turn_judge import ends_turn
from ceoline.voice.turn_model import TurnVerdict
from ceoline.voice.word_rules import is_question, looks_unfinished

LINES = ("wide", "phone")
POLICIES = ("fixed", "model")
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
# A faint line-noise floor, far under the VAD's energy gate, so silence is never digital zero.
NOISE_STD = 8.0


@dataclass(frozen=True)
class LabelledTurn:
    file: Path
    voice: str
    kind: str
    text: str
    holds: tuple[tuple[int, int], ...]  # ms ranges where the caller holds, then goes on
    speech_end_ms: int  # where the caller's last word ends
    split: str = "tune"  # "heldout": never tuned on (the reader, the [turn] thresholds)


def load_turns(path: Path) -> list[LabelledTurn]:
    """``path``: turns.jsonl (see scripts/make_turn_set.py); audio paths are relative to it."""
    if not path.is_file():
        raise CeolineError(f"pause set {path} not found; run scripts/make_turn_set.py")
    turns = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pauses = row["pauses"]
            holds = tuple(
                (p["start"] * 1000 // SAMPLE_RATE, p["end"] * 1000 // SAMPLE_RATE)
                for p in pauses
                if p["label"] == "hold"
            )
            (end,) = [p for p in pauses if p["label"] == "end"]
            turns.append(
                LabelledTurn(
                    path.parent / row["file"],
                    row["voice"],
                    row["kind"],
                    row["text"],
                    holds,
                    end["start"] * 1000 // SAMPLE_RATE,
                    row.get("split", "tune"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CeolineError(f"{path}:{n}: not a labelled turn ({exc})") from None
    return turns


def line_audio(turn: LabelledTurn, line: str, seed: int) -> np.ndarray:
    pcm, rate = soundfile.read(turn.file, dtype="int16")
    if rate != SAMPLE_RATE:
        raise CeolineError(f"{turn.file}: {rate} Hz, the set is 16 kHz")
    return over_line(pcm, line, np.random.default_rng(seed))


def over_line(pcm: np.ndarray, line: str, rng: np.random.Generator) -> np.ndarray:
    """``pcm`` with the set's faint line noise, wideband or through 8 kHz µ-law."""
    noise = rng.normal(0, NOISE_STD, len(pcm))
    audio = np.clip(pcm + noise, -32768, 32767).astype(np.int16)
    return through_phone_line(audio) if line == "phone" else audio


@dataclass
class Outcome:
    """One turn under one policy."""

    cut_offs: int = 0  # holds the bot started in
    end_delay_ms: float | None = None
    wasted_starts: int = 0  # work started at a pause the caller spoke on
    wasted_ms: float = 0.0  # its measured inference time
    cut_at: str | None = None  # what the bot had heard when it cut in


def _arrival(t_ms: int, elapsed_ms: float) -> int:
    """The tick a result computed from ``t_ms`` on is first usable on."""
    return t_ms + FRAME_MS * math.ceil(elapsed_ms / FRAME_MS)


def _in_hold(turn: LabelledTurn, t_ms: float) -> bool:
    return any(start <= t_ms < end for start, end in turn.holds)


@dataclass
class Memo:
    """The models' outputs, each with the time it took (ms), by the audio or the words."""

    transcripts: dict[bytes, tuple[str, float]] = field(default_factory=dict)
    verdicts: dict[bytes, TurnVerdict] = field(default_factory=dict)
    readings: dict[str, tuple[EndReading | None, float]] = field(default_factory=dict)


class _Replay:
    """Feeds one turn's audio through an endpointer, with results landing when they would."""

    def __init__(
        self,
        engines,
        turn: LabelledTurn,
        audio: np.ndarray,
        policy: str,
        memo: Memo,
        config: Config,
    ):
        self.engines, self.turn, self.audio, self.policy = engines, turn, audio, policy
        self.vad, self.turn_config = config.vad, config.turn
        if policy == "fixed":
            self.endpointer = Endpointer(config.vad, prefetch_ms=config.stt.prefetch_ms)
        else:
            self.endpointer = Endpointer(
                config.vad,
                prefetch_ms=config.turn.pause_ms,
                end_ms=config.turn.fallback_ms,
                check_every_ms=config.turn.recheck_ms,
            )
        self.outcome = Outcome()
        self.memo = memo
        words = getattr(engines.llm, "read_end", None)
        self.words = words if policy == "model" and config.turn.text_threshold > 0 else None
        self.reader = getattr(engines, "turn_reader", None)
        self.context = [Message("system", engines.persona.system_prompt())]

    def _transcript(self, audio: bytes) -> tuple[str, float]:
        if audio not in self.memo.transcripts:
            heard = self.engines.transcriber.transcribe(audio)
            self.memo.transcripts[audio] = (heard.text, heard.elapsed_ms)
        return self.memo.transcripts[audio]

    def _verdict(self, audio: bytes) -> TurnVerdict:
        if audio not in self.memo.verdicts:
            self.memo.verdicts[audio] = self.engines.turn_model.judge(audio)
        return self.memo.verdicts[audio]

    def _read_words(self, text: str, t_ms: int) -> tuple[int, float, float | None] | None:
        """When the reply model's reading of the words lands, and what it and the turn
        reader give (as ``TurnJudge.ask_words``: hanging words are not read)."""
        if self.words is None or not text.strip() or looks_unfinished(text):
            return None
        if text not in self.memo.readings:
            started = time.perf_counter()
            reading = self.words(self.context, text)
            self.memo.readings[text] = (reading, (time.perf_counter() - started) * 1000)
        reading, elapsed = self.memo.readings[text]
        if reading is None:
            return None
        finished = self.reader.p_finished(reading, text) if self.reader is not None else None
        return _arrival(t_ms, elapsed), reading.p_end, finished

    def run(self) -> Outcome:
        frames = len(self.audio) // FRAME_SAMPLES
        text_at: tuple[int, str] | None = None  # when the early transcript lands, and it
        # When the reply model's reading lands: (tick, P(end), the reader's P(finished)).
        words_at: tuple[int, float, float | None] | None = None
        verdicts: list[tuple[int, int, TurnVerdict]] = []  # (lands at, silence, verdict)
        extended = False
        for k in range(frames):
            t = k * FRAME_MS
            text = text_at[1] if text_at is not None and text_at[0] <= t else None
            if self.policy == "model" and text is not None:
                landed = [(silence, v) for at, silence, v in verdicts if at <= t]
                read = words_at is not None and words_at[0] <= t
                words_end, finished = (words_at[1], words_at[2]) if read else (None, None)
                silence = self.endpointer.silence_ms
                if ends_turn(text, landed, self.turn_config, words_end, finished, silence):
                    ended = self.endpointer.end_now(t)  # as Conversation.push_caller_frame
                    if ended is not None and self._started(ended, text_at, k):
                        return self.outcome
            elif self.policy == "fixed" and text is not None and not extended:
                extended = True
                if self.vad.unfinished_extra_ms and looks_unfinished(text):
                    self.endpointer.extend(self.vad.unfinished_extra_ms)
            frame = self.audio[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].tobytes()
            for event in self.endpointer.push(frame, t):
                if isinstance(event, SpeechPaused):
                    text, elapsed = self._transcript(event.audio)
                    text_at = (_arrival(event.t_ms, elapsed), text)
                    words_at = self._read_words(text, text_at[0])
                    if _in_hold(self.turn, event.t_ms):
                        self.outcome.wasted_starts += 1
                        self.outcome.wasted_ms += elapsed
                        if words_at is not None:  # the reading's time, to the frame
                            self.outcome.wasted_ms += words_at[0] - text_at[0]
                elif isinstance(event, TurnCheck):
                    if verdicts and verdicts[-1][0] > event.t_ms:
                        continue  # the last check still runs: not queued (TurnJudge.ask)
                    verdict = self._verdict(event.audio)
                    lands = _arrival(event.t_ms, verdict.elapsed_ms)
                    verdicts.append((lands, event.silence_ms, verdict))
                    if _in_hold(self.turn, event.t_ms):
                        self.outcome.wasted_ms += verdict.elapsed_ms
                elif isinstance(event, SpeechResumed):
                    text_at, words_at, verdicts, extended = None, None, [], False
                elif isinstance(event, TurnEnded):
                    if self._started(event, text_at, k):
                        return self.outcome
                    text_at, words_at, verdicts, extended = None, None, [], False
        return self.outcome

    def _started(self, ended: TurnEnded, text_at: tuple[int, str] | None, k: int) -> bool:
        """The turn was judged over at ``ended.decided_ms``: does the bot start, and when?"""
        text = text_at[1] if text_at is not None else self._transcript(ended.audio)[0]
        start = ended.decided_ms
        if self.vad.unfinished_extra_ms and looks_unfinished(text):
            # The call waits this long more for the caller to go on (Conversation._answer).
            start += self.vad.unfinished_extra_ms
            resumes = self._next_speech_ms(k)
            if resumes is not None and resumes < start:
                return False  # the caller went on: the two turns become one, nobody was cut
        if _in_hold(self.turn, start) or start < self.turn.speech_end_ms:
            self.outcome.cut_offs += 1
            self.outcome.cut_at = text
            return True
        self.outcome.end_delay_ms = float(ended.decided_ms - self.turn.speech_end_ms)
        return True

    def _next_speech_ms(self, k: int) -> int | None:
        """When the caller next speaks, from frame ``k`` on (from the labels)."""
        now = k * FRAME_MS
        ends = [end for start, end in self.turn.holds if end > now]
        return min(ends) if ends else None


@dataclass
class PolicyReport:
    turns: int = 0
    holds: int = 0
    cut_offs: int = 0
    delays: list[float] = field(default_factory=list)
    statement_delays: list[float] = field(default_factory=list)  # turns that are no question
    wasted_starts: int = 0
    wasted_ms: float = 0.0
    cut_off_examples: list[dict] = field(default_factory=list)

    def add(self, turn: LabelledTurn, outcome: Outcome, line: str = "") -> None:
        if outcome.cut_at is not None:
            self.cut_off_examples.append(
                {"file": turn.file.name, "line": line, "said": turn.text, "heard": outcome.cut_at}
            )
        self.turns += 1
        self.holds += len(turn.holds)
        self.cut_offs += outcome.cut_offs
        if outcome.end_delay_ms is not None:
            self.delays.append(outcome.end_delay_ms)
            if not is_question(turn.text):
                self.statement_delays.append(outcome.end_delay_ms)
        self.wasted_starts += outcome.wasted_starts
        self.wasted_ms += outcome.wasted_ms

    def as_json(self) -> dict:
        return {
            "turns": self.turns,
            "holds": self.holds,
            "false_cut_offs": self.cut_offs,
            "false_cut_off_rate": round(self.cut_offs / self.holds, 4) if self.holds else None,
            "end_delay_ms_p50": percentile(self.delays, 50),
            "end_delay_ms_p95": percentile(self.delays, 95),
            "statement_end_delay_ms_p50": percentile(self.statement_delays, 50),
            "statement_end_delay_ms_p95": percentile(self.statement_delays, 95),
            "wasted_starts_per_turn": round(self.wasted_starts / self.turns, 3)
            if self.turns
            else None,
            "wasted_ms_per_turn": round(self.wasted_ms / self.turns, 1) if self.turns else None,
            "cut_offs": self.cut_off_examples,
        }


@dataclass
class TurnReport:
    overall: dict[str, PolicyReport]
    by_variant: dict[str, dict[str, PolicyReport]]
    by_split: dict[str, dict[str, PolicyReport]] = field(default_factory=dict)
    cut_off_target: float = 0.05

    def as_json(self) -> dict:
        return {
            "overall": {p: r.as_json() for p, r in self.overall.items()},
            "by_split": {
                v: {p: _without_examples(r.as_json()) for p, r in reports.items()}
                for v, reports in sorted(self.by_split.items(), key=lambda kv: kv[0] != "tune")
            },
            "by_variant": {
                v: {p: _without_examples(r.as_json()) for p, r in reports.items()}
                for v, reports in self.by_variant.items()
            },
        }

    def meets_targets(self) -> bool:
        model, fixed = self.overall["model"], self.overall["fixed"]
        if not model.holds:
            return True
        rate = model.cut_offs / model.holds
        return rate <= self.cut_off_target and model.cut_offs <= fixed.cut_offs


def evaluate(
    engines,
    turns: list[LabelledTurn],
    lines: tuple[str, ...] = LINES,
    memo: Memo | None = None,
    config: Config | None = None,
) -> TurnReport:
    """``memo``: the models' outputs from an earlier run over the same audio, reused (and
    added to); ``config``: settings other than the engines' own."""
    memo = memo or Memo()
    config = config or engines.config
    if engines.turn_model is None:
        raise CeolineError('the turn model is off ([turn] detector = "silence"); nothing to score')
    overall = {p: PolicyReport() for p in POLICIES}
    by_variant: dict[str, dict[str, PolicyReport]] = {}
    by_split: dict[str, dict[str, PolicyReport]] = {}
    seeds = random.Random(7)
    for turn in turns:
        for line in lines:
            audio = line_audio(turn, line, seeds.randrange(1 << 30))
            variant = by_variant.setdefault(
                f"{turn.voice}/{line}", {p: PolicyReport() for p in POLICIES}
            )
            split = by_split.setdefault(turn.split, {p: PolicyReport() for p in POLICIES})
            for policy in POLICIES:
                outcome = _Replay(engines, turn, audio, policy, memo, config).run()
                overall[policy].add(turn, outcome, line)
                variant[policy].add(turn, outcome, line)
                split[policy].add(turn, outcome, line)
    return TurnReport(overall, by_variant, by_split)


def _without_examples(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "cut_offs"}
