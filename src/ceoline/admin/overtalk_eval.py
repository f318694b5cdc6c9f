"""Score listening while the bot speaks, on the over-talk set (tests/data/overtalk/).

Each case is replayed 20 ms at a time the way a call hears it: the bot's frame goes out (and
is the echo canceller's reference), the line's frame comes back carrying the caller, the
bot's echo or both, and passes through the *front* under test, the endpointer and the
barge-in detector before Whisper transcribes every turn. Three fronts run over the same audio
in the same run:

* ``canceller``: the call's own path (``voice.echo.EchoCanceller``): AEC3, and the line's
  own audio wherever it is not the bot's echo;
* ``aec3``: AEC3's output on every frame, to show what the likeness test is for;
* ``gate``: the level gate it replaced (a frame quieter than the bot's level over the last
  400 ms minus 10 dB counted as echo and was dropped).

Scores: word error rate over the bot against the same lines said in silence (the target is
within 5 points); requests for a person spoken over the greeting that escalate, against the
same lines said in silence (the target: talking over the greeting loses none; what Whisper
mishears in silence too is counted, not hidden); and on the echo-only cases: no barge-in, no
words heard, and the echo return loss enhancement (ERLE) while the bot speaks.
"""

from __future__ import annotations

import json
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from ceoline.admin.answer_eval import word_errors
from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.trust.dialogue import Action, DialoguePolicy
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE, frames, rms_dbfs, through_phone_line
from ceoline.voice.bargein import BargeAction, BargeInDetector
from ceoline.voice.echo import EchoCanceller
from ceoline.voice.endpointing import Endpointer, TurnEnded
from ceoline.voice.word_rules import has_words

FRONTS = ("canceller", "aec3", "gate")
FRAME = SAMPLE_RATE * FRAME_MS // 1000
# The line's faint noise floor (as in the pause set), so silence is never digital zero.
NOISE_STD = 8.0
# Silence after the last sound, so every turn can end.
TAIL_MS = 2000
# The eval's bar: over-talk WER within this many points of the same lines in silence.
WER_GAP_POINTS = 5.0


@dataclass(frozen=True)
class Line:
    id: str
    kind: str
    voice: str
    text: str
    pcm: np.ndarray


@dataclass(frozen=True)
class Case:
    line: str | None  # None: the bot's echo alone
    over: str  # "greeting" or "reply"
    offset_ms: int
    caller_dbfs: float | None
    echo_db: float | None
    echo_delay_ms: int
    phone: bool


def load_set(path: Path) -> tuple[dict[str, Line], dict[str, np.ndarray], list[Case]]:
    """``path``: the set's folder (lines.jsonl, cases.jsonl, audio/)."""
    if not (path / "cases.jsonl").is_file():
        raise CeolineError(f"over-talk set {path} not found; run scripts/make_overtalk_set.py")

    def rows(name: str) -> list[dict]:
        out = []
        for n, text in enumerate((path / name).read_text("utf-8").splitlines(), 1):
            if text.strip():
                try:
                    out.append(json.loads(text))
                except ValueError as exc:
                    raise CeolineError(f"{path / name}:{n}: not JSON ({exc})") from None
        return out

    def audio(name: str) -> np.ndarray:
        try:
            pcm, rate = soundfile.read(path / name, dtype="int16")
        except (soundfile.LibsndfileError, OSError) as exc:
            raise CeolineError(f"{path / name}: cannot read the audio ({exc})") from None
        if rate != SAMPLE_RATE:
            raise CeolineError(f"{path / name}: {rate} Hz, the set is 16 kHz")
        return pcm

    try:
        lines = {
            r["id"]: Line(r["id"], r["kind"], r["voice"], r["text"], audio(r["file"]))
            for r in rows("lines.jsonl")
        }
        bot = {over: audio(f"audio/bot-{over}.flac") for over in ("greeting", "reply")}
        cases = [Case(**r) for r in rows("cases.jsonl")]
    except (KeyError, TypeError) as exc:
        raise CeolineError(f"{path}: not an over-talk set ({exc})") from None
    unknown = {c.line for c in cases if c.line is not None} - set(lines)
    if unknown:
        raise CeolineError(f"{path}/cases.jsonl names lines it lacks: {sorted(unknown)[:3]}")
    return lines, bot, cases


def _level(pcm: np.ndarray) -> float:
    voiced = pcm[np.abs(pcm) > 100].astype(np.float64)
    return 10 * np.log10(np.mean(voiced**2) / 32768**2 + 1e-12) if len(voiced) else -120.0


def mix(case: Case, line: Line | None, bot: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """(what the bot sends, what comes back on the line, the caller alone, the echo alone),
    sample-aligned; the bot's frames are silence once it has finished."""
    offset = case.offset_ms * SAMPLE_RATE // 1000
    caller_len = len(line.pcm) if line is not None else 0
    total = max(len(bot), offset + caller_len) + TAIL_MS * SAMPLE_RATE // 1000
    total += -total % FRAME
    sent = np.zeros(total, np.float32)
    sent[: len(bot)] = bot
    caller = np.zeros(total, np.float32)
    if line is not None:
        gain = 10 ** ((case.caller_dbfs - _level(line.pcm)) / 20)
        caller[offset : offset + caller_len] = line.pcm * gain
    echo = np.zeros(total, np.float32)
    if case.echo_db is not None:
        delay = case.echo_delay_ms * SAMPLE_RATE // 1000
        echo[delay:] = sent[: total - delay] * 10 ** (case.echo_db / 20)
    noise = np.random.default_rng(seed).normal(0, NOISE_STD, total)
    heard = np.clip(caller + echo + noise, -32768, 32767).astype(np.int16)
    if case.phone:
        heard = through_phone_line(heard)[:total]
    return sent.astype(np.int16), heard, caller, echo


class LevelGate:
    """The rule the canceller replaced: quieter than the bot's recent level minus 10 dB is echo."""

    MARGIN_DB = 10.0

    def __init__(self) -> None:
        self._levels: deque[float] = deque([-120.0], maxlen=400 // FRAME_MS)

    def played(self, frame: bytes) -> None:
        self._levels.append(rms_dbfs(frame))

    def clean(self, frame: bytes) -> bytes:
        echo = rms_dbfs(frame) < max(self._levels) - self.MARGIN_DB
        return bytes(len(frame)) if echo else frame


def _front(name: str, config: Config):
    if name == "canceller":
        return EchoCanceller(config.echo)
    if name == "aec3":
        return EchoCanceller(config.echo, pass_non_echo=False)
    if name == "gate":
        return LevelGate()
    raise CeolineError(f"unknown front {name!r}; choose from {', '.join(FRONTS)}")


@dataclass
class Heard:
    text: str
    barge_ins: int
    residual: np.ndarray  # what the front passed on, while the bot spoke


def listen(engines, front_name: str, sent: np.ndarray, heard: np.ndarray, over: str) -> Heard:
    """Replay one case through a front, the endpointer and the barge-in detector, as a call."""
    config = engines.config
    front = _front(front_name, config)
    endpointer = Endpointer(config.vad, end_ms=config.turn.fallback_ms)
    bargein = BargeInDetector(config.bargein)
    turns: list[TurnEnded] = []
    barge_ins = 0
    passed = []
    for k, (out, back) in enumerate(zip(frames(sent), frames(heard), strict=True)):
        t_ms = k * FRAME_MS
        clean = front.clean(back)
        passed.append(clean)
        events = endpointer.push(clean, t_ms)
        turns += [e for e in events if isinstance(e, TurnEnded)]
        speech = endpointer.last_voiced and rms_dbfs(clean) >= config.bargein.min_energy_dbfs
        # The greeting cannot be cut; over a reply the detector is live.
        bot_active = over == "reply" and rms_dbfs(out) > -60
        if bargein.push(speech, t_ms, bot_active) is BargeAction.PAUSE:
            barge_ins += 1
        front.played(out)
    last = endpointer.flush(len(passed) * FRAME_MS)
    if last is not None:
        turns.append(last)
    texts = [engines.transcriber.transcribe(t.audio).text.strip() for t in turns]
    residual = np.frombuffer(b"".join(passed), np.int16)
    return Heard(" ".join(t for t in texts if has_words(t)), barge_ins, residual)


@dataclass
class FrontReport:
    over_talk: list[tuple[int, int]] = field(default_factory=list)  # (edits, words)
    in_silence: list[tuple[int, int]] = field(default_factory=list)
    by_condition: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    persons: list[bool] = field(default_factory=list)  # over the greeting: escalated?
    persons_missed: list[dict] = field(default_factory=list)
    persons_in_silence: list[bool] = field(default_factory=list)  # the same line, no bot
    echo_cases: int = 0
    false_barge_ins: int = 0
    echo_heard: list[str] = field(default_factory=list)
    erle_db: list[float] = field(default_factory=list)
    misheard: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        over, calm = _wer(self.over_talk), _wer(self.in_silence)
        return {
            "wer_over_talk": over,
            "wer_in_silence": calm,
            "wer_gap_points": None if over is None else round((over - calm) * 100, 1),
            "wer_by_condition": {k: _wer(v) for k, v in sorted(self.by_condition.items())},
            "persons_over_greeting": len(self.persons),
            "persons_escalated": sum(self.persons),
            "persons_escalated_in_silence": sum(self.persons_in_silence),
            # Escalations talking over the greeting lost (the same line said in silence did).
            "persons_lost": sum(
                calm and not over
                for over, calm in zip(self.persons, self.persons_in_silence, strict=True)
            ),
            "persons_missed": self.persons_missed,
            "echo_cases": self.echo_cases,
            "false_barge_ins": self.false_barge_ins,
            "echo_heard_as_speech": len(self.echo_heard),
            "echo_heard": self.echo_heard[:10],
            "erle_db_p50": _median(self.erle_db),
            "erle_db_min": round(min(self.erle_db), 1) if self.erle_db else None,
            "worst": sorted(self.misheard, key=lambda m: -m["wer"])[:8],
        }


def _wer(pairs: list[tuple[int, int]]) -> float | None:
    words = sum(n for _, n in pairs)
    return round(sum(e for e, _ in pairs) / words, 4) if words else None


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 1) if values else None


@dataclass
class OverTalkReport:
    fronts: dict[str, FrontReport]
    cases: int

    def as_json(self) -> dict:
        return {"cases": self.cases, "fronts": {k: v.as_json() for k, v in self.fronts.items()}}

    def meets_targets(self) -> bool:
        r = self.fronts["canceller"].as_json()
        return (
            r["wer_gap_points"] is not None
            and r["wer_gap_points"] <= WER_GAP_POINTS
            and r["persons_lost"] == 0
            and r["false_barge_ins"] == 0
            and r["echo_heard_as_speech"] == 0
        )


def evaluate(
    engines, path: Path, fronts: tuple[str, ...] = FRONTS, every: int = 1
) -> OverTalkReport:
    """The set at ``path`` (one case in ``every``, a fixed sample), through each front."""
    if "canceller" not in fronts:
        fronts = ("canceller", *fronts)
    lines, bot, cases = load_set(path)
    if every > 1:
        # A fixed shuffle, so a slice mixes every condition (the set's rows cycle through them).
        picked = random.Random(every).sample(range(len(cases)), max(1, len(cases) // every))
        cases = [cases[i] for i in sorted(picked)]
    reports = {name: FrontReport() for name in fronts}
    calm_cache: dict[tuple, tuple[tuple[int, int], str]] = {}
    for seed, case in enumerate(cases):
        line = lines.get(case.line) if case.line else None
        sent, heard, _, echo = mix(case, line, bot[case.over], seed)
        calm_key = (case.line, case.phone, case.caller_dbfs)
        if line is not None and calm_key not in calm_cache:
            quiet = Case(line.id, "greeting", case.offset_ms, case.caller_dbfs, None, 0, case.phone)
            calm_line = mix(quiet, line, np.zeros(0, np.int16), seed)[1]
            calm = listen(engines, "canceller", np.zeros_like(calm_line), calm_line, "greeting")
            calm_cache[calm_key] = (word_errors(line.text, calm.text), calm.text)
        for name in fronts:
            report = reports[name]
            result = listen(engines, name, sent, heard, case.over)
            if line is None:
                _score_echo(report, case, result, echo, len(bot[case.over]))
                continue
            errors = word_errors(line.text, result.text)
            report.over_talk.append(errors)
            calm_errors, calm_text = calm_cache[calm_key]
            report.in_silence.append(calm_errors)
            for key in _conditions(case, line):
                report.by_condition.setdefault(key, []).append(errors)
            if line.kind == "person" and case.over == "greeting":
                policy = DialoguePolicy(engines.config, engines.persona, None)
                escalated = policy.decide(result.text).action is Action.HANDOFF
                policy = DialoguePolicy(engines.config, engines.persona, None)
                report.persons_in_silence.append(policy.decide(calm_text).action is Action.HANDOFF)
                report.persons.append(escalated)
                if not escalated:
                    report.persons_missed.append(
                        {"line": line.id, "heard": result.text, "in_silence": calm_text}
                    )
            if errors[0]:
                report.misheard.append(
                    {
                        "line": line.id,
                        "over": case.over,
                        "echo_db": case.echo_db,
                        "caller_dbfs": case.caller_dbfs,
                        "phone": case.phone,
                        "wer": round(errors[0] / max(1, errors[1]), 2),
                        "heard": result.text,
                    }
                )
    return OverTalkReport(reports, len(cases))


def _conditions(case: Case, line: Line) -> list[str]:
    echo = "no echo" if case.echo_db is None else f"echo {case.echo_db:g} dB"
    return [
        f"over {case.over}",
        echo,
        f"caller {case.caller_dbfs:g} dBFS",
        "µ-law" if case.phone else "wideband",
        f"voice {line.voice}",
    ]


def _score_echo(report: FrontReport, case: Case, result: Heard, echo: np.ndarray, n: int):
    report.echo_cases += 1
    report.false_barge_ins += result.barge_ins
    if result.text:
        report.echo_heard.append(result.text)
    # ERLE while the bot (and so its echo) sounds: the echo's power over what is left of it.
    span = slice(case.echo_delay_ms * SAMPLE_RATE // 1000, n)
    left = result.residual[span].astype(np.float64)
    power = float(np.mean(echo[span].astype(np.float64) ** 2))
    report.erle_db.append(10 * np.log10(power / (float(np.mean(left**2)) + 1e-3)))
