"""Barge-in: the detector's rules, then whole calls with scripted stages."""

import asyncio
import json

import numpy as np

from ceoline.config import BargeInConfig
from ceoline.store import Store
from ceoline.voice.bargein import BargeAction, BargeInDetector
from ceoline.voice.simulate import EchoingLine, InterruptingCaller, WavCaller, run_call
from ceoline.voice.stt import Transcript

from ..conftest import FakeLanguageModel, speech_segment

LONG_REPLY = (
    "We started with invoices for small shops. Then we added payments so people get paid "
    "faster. Later came the books, which keep everything in one place for the owner."
)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16000), np.int16)


def feed(detector, flags, start_ms=0, active=True):
    actions = []
    for i, speech in enumerate(flags):
        action = detector.push(speech, start_ms + i * 20, active)
        if action is not None:
            actions.append((start_ms + i * 20, action))
    return actions


def test_pause_comes_after_stop_after_ms_of_speech():
    detector = BargeInDetector(BargeInConfig(stop_after_ms=120))
    actions = feed(detector, [False] * 5 + [True] * 6)
    assert actions == [(200, BargeAction.PAUSE)]
    assert detector.current.onset_ms == 100 and detector.current.latency_ms == 120


def test_short_speech_resumes_and_long_speech_commits():
    config = BargeInConfig(stop_after_ms=120, confirm_ms=500, resume_after_ms=300)
    short = BargeInDetector(config)
    actions = feed(short, [True] * 12 + [False] * 20)
    assert [a for _, a in actions] == [BargeAction.PAUSE, BargeAction.RESUME]
    assert not short.current.committed
    long = BargeInDetector(config)
    actions = feed(long, [True] * 30)
    assert [a for _, a in actions] == [BargeAction.PAUSE, BargeAction.COMMIT]
    assert actions[1][0] + 20 - long.current.onset_ms == 500


def test_one_dropped_frame_inside_speech_does_not_reset_onset():
    detector = BargeInDetector(BargeInConfig(stop_after_ms=120))
    actions = feed(detector, [True, True, True, False, True, True, True])
    assert actions and detector.current.onset_ms == 0


def test_nothing_fires_when_the_bot_is_quiet_or_disabled():
    assert feed(BargeInDetector(BargeInConfig()), [True] * 40, active=False) == []
    assert feed(BargeInDetector(BargeInConfig(enabled=False)), [True] * 40) == []


class LengthTranscriber:
    """Short audio is a backchannel, long audio a question."""

    def __init__(self, long_text="What is your mission?", short_text="Mm-hmm."):
        self.long_text = long_text
        self.short_text = short_text

    def transcribe(self, pcm) -> Transcript:
        seconds = len(pcm) / 2 / 16000 if isinstance(pcm, bytes) else len(pcm) / 16000
        text = self.short_text if seconds < 0.9 else self.long_text
        return Transcript(text, seconds, 5.0)


def _run(stages, caller, tmp_path):
    store = Store.open(tmp_path)
    result = asyncio.run(run_call(stages, caller, store, greet=False))
    stored = store.get_call(result.call_id)
    store.close()
    return result, stored


def _question():
    return np.concatenate([silence(0.3), speech_segment(1.2), silence(0.2)])


def test_interruption_stops_the_bot_within_200_ms_and_is_answered(fake_stages, tmp_path):
    fake_stages.llm = FakeLanguageModel(LONG_REPLY, token_delay_s=0.005)
    fake_stages.transcriber = LengthTranscriber()
    caller = InterruptingCaller(_question(), speech_segment(1.5), after_ms=600)
    _, stored = _run(fake_stages, caller, tmp_path)
    barges = [e for e in stored["events"] if e["kind"] == "barge_in"]
    assert len(barges) == 1
    detail = json.loads(barges[0]["detail"])
    assert detail["committed"] and 0 < detail["latency_ms"] <= 200
    bot = [t for t in stored["turns"] if t["role"] == "bot"]
    assert bot[0]["interrupted"] and bot[0]["text"] != LONG_REPLY
    # the bot's audio stopped where the barge-in says
    assert bot[0]["end_ms"] - barges[0]["t_ms"] == detail["latency_ms"]
    callers = [t for t in stored["turns"] if t["role"] == "caller"]
    assert len(callers) == 2 and len(bot) == 2  # the interruption was heard and answered


def test_backchannel_pauses_then_resumes_and_loses_nothing(fake_stages, tmp_path):
    fake_stages.llm = FakeLanguageModel(LONG_REPLY, token_delay_s=0.005)
    fake_stages.transcriber = LengthTranscriber()
    caller = InterruptingCaller(_question(), speech_segment(0.35), after_ms=600)
    _, stored = _run(fake_stages, caller, tmp_path)
    bot = [t for t in stored["turns"] if t["role"] == "bot"]
    assert len(bot) == 1 and not bot[0]["interrupted"]
    assert [t["role"] for t in stored["turns"]] == ["caller", "bot"]  # "mm-hm" is not a turn
    barges = [json.loads(e["detail"]) for e in stored["events"] if e["kind"] == "barge_in"]
    assert all(not b["committed"] for b in barges)


def test_echo_of_the_bot_never_interrupts_it(fake_stages, tmp_path):
    fake_stages.llm = FakeLanguageModel(LONG_REPLY, token_delay_s=0.005)
    fake_stages.transcriber = LengthTranscriber()
    line = EchoingLine(WavCaller(_question(), reply_wait_s=20), delay_ms=120, gain_db=-15)
    _, stored = _run(fake_stages, line, tmp_path)
    assert [t["role"] for t in stored["turns"]] == ["caller", "bot"]
    assert not stored["turns"][1]["interrupted"]
    assert [e for e in stored["events"] if e["kind"] == "barge_in"] == []
