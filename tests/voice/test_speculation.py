"""Replies prepared during a pause: played at once when the turn ends there, never heard when
the caller goes on (scripted stages, real endpointing on real speech)."""

import asyncio

import numpy as np

from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.simulate import WavCaller, run_call

from ..conftest import FakeLanguageModel, FakeTranscriber, FakeTurnModel, speech_segment


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def call(stages, pcm):
    return asyncio.run(run_call(stages, WavCaller(pcm, reply_wait_s=10), None, greet=False))


def caller_turns(result):
    return [t for t in result.turns if t.role == "caller"]


def bot_turns(result):
    return [t for t in result.turns if t.role == "bot"]


class TurnByTurn(FakeTranscriber):
    """Hears the first words at the first pause, and all of them after that."""

    def __init__(self, *texts: str):
        super().__init__(texts[0])
        self.texts = texts

    def transcribe(self, pcm):
        self.text = self.texts[min(self.calls, len(self.texts) - 1)]
        return super().transcribe(pcm)


def test_a_finished_turn_is_answered_from_the_prepared_reply(fake_stages):
    fake_stages.turn_model = FakeTurnModel(complete=0.95)
    result = call(fake_stages, np.concatenate([silence(0.3), speech_segment(1.0), silence(0.2)]))
    (heard,) = caller_turns(result)
    t = heard.timings_ms
    assert t["speculative"] is True and t["turn_checks"] >= 1 and t["turn_complete"] >= 0.9
    # Judged over at the first look ([turn] pause_ms) once the early transcript was in: not
    # at the 500 ms fixed window.
    assert fake_stages.config.turn.pause_ms <= t["endpoint"] < 400
    assert t["discarded_replies"] == 0
    assert fake_stages.transcriber.calls == 1


def test_a_reply_prepared_at_a_hold_is_never_heard_and_its_model_stops(fake_stages):
    fake_stages.turn_model = FakeTurnModel(complete=0.1)  # never sure: the fallback ends it
    fake_stages.transcriber = TurnByTurn(
        "Tell me your mission.", "Tell me your mission. And your history?"
    )
    fake_stages.llm = FakeLanguageModel(
        "one two three four five six seven eight nine ten eleven twelve.", token_delay_s=0.08
    )
    hold_ends = 0.3 + 1.0 + 0.7
    pcm = np.concatenate(
        [silence(0.3), speech_segment(1.0), silence(0.7), speech_segment(1.0), silence(0.2)]
    )
    result = call(fake_stages, pcm)
    (heard,) = caller_turns(result)  # the hold did not split the turn
    (said,) = bot_turns(result)
    assert said.start_ms > (hold_ends + 1.0) * 1000  # nothing was heard during the hold
    t = heard.timings_ms
    assert t["discarded_replies"] == 1 and t["speculative"] is True
    first, second = fake_stages.llm.yielded
    assert first < 12  # the reply prepared at the hold stopped at its next token
    assert second > first
