"""The echo canceller on real voices: the bot's greeting (Piper) and an espeak-ng caller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from ceoline.config import EchoConfig
from ceoline.voice.audio import frames, rms_dbfs, through_phone_line
from ceoline.voice.echo import EchoCanceller, likeness_by_delay

SET = Path(__file__).resolve().parent.parent / "data" / "overtalk" / "audio"


def _read(name: str) -> np.ndarray:
    return soundfile.read(SET / name, dtype="int16")[0].astype(np.float32)


BOT = _read("bot-greeting.flac")
BOT = BOT[: len(BOT) - len(BOT) % 320]  # whole 20 ms frames
CALLER = _read("person-0-espeak.flac")


def _line(echo_db: float | None, delay_ms: int, caller_dbfs: float | None, at_s: float = 0.5):
    """(what the bot sends, what the line returns, the caller alone), as int16 arrays."""
    caller = np.zeros(len(BOT), np.float32)
    if caller_dbfs is not None:
        voiced = CALLER[np.abs(CALLER) > 100]
        gain = 10 ** ((caller_dbfs - 10 * np.log10(np.mean(voiced**2) / 32768**2)) / 20)
        start = int(at_s * 16000)
        caller[start : start + len(CALLER)] = (CALLER * gain)[: len(BOT) - start]
    echo = np.zeros(len(BOT), np.float32)
    if echo_db is not None:
        delay = delay_ms * 16
        echo[delay:] = BOT[: len(BOT) - delay] * 10 ** (echo_db / 20)
    line = np.clip(caller + echo, -32768, 32767).astype(np.int16)
    return BOT.astype(np.int16), line, caller.astype(np.int16)


def _run(sent: np.ndarray, line: np.ndarray, canceller: EchoCanceller) -> np.ndarray:
    out = []
    for bot_frame, line_frame in zip(frames(sent), frames(line), strict=True):
        out.append(canceller.clean(line_frame))  # the call's order: the line's frame first
        canceller.played(bot_frame)
    return np.frombuffer(b"".join(out), np.int16).astype(np.float64)


def _power_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-9)


@pytest.mark.parametrize("echo_db,delay_ms", [(-6, 60), (-12, 120), (-20, 250)])
def test_echo_alone_is_taken_out_from_the_first_words(echo_db, delay_ms):
    sent, line, _ = _line(echo_db, delay_ms, None)
    out = _run(sent, line, EchoCanceller(EchoConfig()))
    erle = _power_db(line) - _power_db(out)
    assert erle >= 30, f"ERLE {erle:.1f} dB"
    # No 20 ms frame anywhere, the greeting's first syllable included, is loud enough to be
    # taken for speech.
    loudest = max(rms_dbfs(f) for f in frames(out.astype(np.int16)))
    assert loudest < -45, loudest


def test_echo_through_a_mu_law_line_is_taken_out():
    sent, line, _ = _line(-6, 250, None)
    line = through_phone_line(line)[: len(sent)]
    out = _run(sent, line, EchoCanceller(EchoConfig()))
    assert _power_db(line) - _power_db(out) >= 25
    assert max(rms_dbfs(f) for f in frames(out.astype(np.int16))) < -40


def test_a_line_without_echo_passes_the_caller_untouched_over_the_greeting():
    sent, line, _ = _line(None, 0, -30)
    canceller = EchoCanceller(EchoConfig())
    out = _run(sent, line, canceller)
    assert np.array_equal(out.astype(np.int16), line)  # AEC3 alone would take 45-60 dB off
    assert canceller.cancelled == 0 and canceller.delay is None


def test_a_caller_under_a_louder_echo_keeps_their_voice():
    sent, line, caller = _line(-6, 120, -30)
    canceller = EchoCanceller(EchoConfig())
    out = _run(sent, line, canceller)
    speaking = np.abs(caller.astype(np.float64)) > 0
    # What is left where the caller speaks is the caller: the echo (4 dB louder than the
    # caller there) is subtracted, and the caller's voice is not suppressed with it.
    error = out[speaking] - caller[speaking]
    assert _power_db(caller[speaking]) - _power_db(error) >= 15
    assert canceller.subtracted > 20 and canceller.delay is not None


def test_off_passes_everything_through():
    sent, line, _ = _line(-6, 60, -20)
    assert np.array_equal(_run(sent, line, EchoCanceller(EchoConfig(canceller="off"))), line)


def test_likeness_finds_the_delay_of_a_copy_and_not_of_another_voice():
    rng = np.random.default_rng(1)
    sent = rng.standard_normal(4800).astype(np.float32)
    heard = sent[4800 - 800 - 123 : 4800 - 123] * 0.3
    likeness = likeness_by_delay(heard, sent)
    assert int(np.argmax(likeness)) == 123 and likeness[123] > 0.99
    other = rng.standard_normal(800).astype(np.float32)
    assert likeness_by_delay(other, sent).max() < 0.3
    assert not likeness_by_delay(np.zeros(800, np.float32), sent).any()
    assert not likeness_by_delay(heard, np.zeros(4800, np.float32)).any()
