"""Conversation that earns trust, with the real models: barge-in on real speech, echo and
backchannels that must not interrupt, unfinished sentences, endings, grounded answers."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from ceoline.store import Store
from ceoline.trust.languages.english import LINES
from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.simulate import EchoingLine, InterruptingCaller, WavCaller, run_call

pytestmark = pytest.mark.models


def speak(engines, text: str) -> np.ndarray:
    return engines.synthesizer.synthesize(text).pcm


def pad(pcm: np.ndarray, before: float = 0.3, after: float = 0.3) -> np.ndarray:
    return np.concatenate(
        [
            np.zeros(int(before * SAMPLE_RATE), np.int16),
            pcm,
            np.zeros(int(after * SAMPLE_RATE), np.int16),
        ]
    )


def call(engines, caller, tmp_path, greet=False):
    store = Store.open(tmp_path)
    result = asyncio.run(run_call(engines, caller, store, greet=greet))
    stored = store.get_call(result.call_id)
    store.close()
    return result, stored


def barge_events(stored) -> list[dict]:
    return [
        {**json.loads(e["detail"]), "t_ms": e["t_ms"]}
        for e in stored["events"]
        if e["kind"] == "barge_in"
    ]


QUESTION = "Tell me about the Quillfern mobile app and what you are working on next."


def test_real_speech_over_the_reply_stops_it_within_200_ms(engines, tmp_path):
    caller = InterruptingCaller(
        pad(speak(engines, QUESTION)),
        pad(speak(engines, "Wait, sorry, stop. I have a different question about invoices.")),
        after_ms=700,
        linger_ms=2500,
    )
    _, stored = call(engines, caller, tmp_path)
    barges = barge_events(stored)
    committed = [b for b in barges if b["committed"]]
    assert len(committed) == 1, barges
    assert 0 < committed[0]["latency_ms"] <= 200
    bot = [t for t in stored["turns"] if t["role"] == "bot"]
    assert bot[0]["interrupted"]
    callers = [t["text"].lower() for t in stored["turns"] if t["role"] == "caller"]
    assert len(callers) == 2 and "invoice" in callers[1], callers


@pytest.mark.parametrize("noise", ["Mm-hmm.", "Yeah.", "Okay.", "cough"])
def test_backchannels_and_a_cough_do_not_interrupt(engines, tmp_path, noise):
    if noise == "cough":
        rng = np.random.default_rng(3)
        sound = (rng.normal(0, 6000, int(0.2 * SAMPLE_RATE))).astype(np.int16)
    else:
        sound = speak(engines, noise)
    caller = InterruptingCaller(pad(speak(engines, QUESTION)), sound, after_ms=700)
    _, stored = call(engines, caller, tmp_path)
    assert not [b for b in barge_events(stored) if b["committed"]]
    bot = [t for t in stored["turns"] if t["role"] == "bot"]
    assert len(bot) == 1 and not bot[0]["interrupted"], stored["turns"]


def test_the_bots_own_echo_does_not_interrupt_it(engines, tmp_path):
    line = EchoingLine(WavCaller(pad(speak(engines, QUESTION)), 30), delay_ms=100, gain_db=-12)
    _, stored = call(engines, line, tmp_path, greet=True)
    assert barge_events(stored) == []
    assert [t["role"] for t in stored["turns"]] == ["bot", "caller", "bot"]
    assert not any(t["interrupted"] for t in stored["turns"])


def test_a_pause_mid_sentence_does_not_cut_the_caller_off(engines, tmp_path):
    first = speak(engines, "I think that,")
    second = speak(engines, "the export button should be bigger.")
    pcm = pad(np.concatenate([first, np.zeros(int(0.9 * SAMPLE_RATE), np.int16), second]))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    callers = [t["text"].lower() for t in stored["turns"] if t["role"] == "caller"]
    assert len(callers) == 1, callers
    assert "think" in callers[0] and "export" in callers[0]


def test_a_goodbye_gets_a_goodbye_and_a_hang_up(engines, persona, tmp_path):
    pcm = pad(speak(engines, "Okay, thanks, that's all. Goodbye!"), after=1.0)
    result, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    assert result.end_reason == "caller_goodbye"
    assert stored["turns"][-1]["role"] == "bot"
    assert stored["turns"][-1]["text"] == persona.goodbye_line


def test_am_i_talking_to_a_robot_gets_the_truth(engines, persona, tmp_path):
    pcm = pad(speak(engines, "Hang on, am I talking to a robot?"))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    reply = next(t["text"] for t in stored["turns"] if t["role"] == "bot")
    assert "AI version" in reply and persona.name in reply


def test_a_history_question_is_answered_with_the_fact_from_the_notes(engines, tmp_path):
    pcm = pad(speak(engines, "When did you open the office in Lisbon?"))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    reply = next(t["text"] for t in stored["turns"] if t["role"] == "bot")
    assert "2022" in reply, reply


def test_a_company_answer_is_heard_before_the_model_has_finished(engines, tmp_path):
    pcm = pad(speak(engines, "Who started the company with you?"))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    caller = next(t for t in stored["turns"] if t["role"] == "caller")
    reply = next(t["text"] for t in stored["turns"] if t["role"] == "bot")
    timings = caller["timings"]
    assert "Amara" in reply, reply
    # The notes' sentence was playing while the model was still writing its addition.
    assert timings["response"] < timings["llm_done"], timings
    assert timings["tts_first_audio"] < timings["llm_done"], timings


def test_an_unseen_voice_gets_the_fact(engines, tmp_path):
    from ceoline.voice import espeak

    if not espeak.available():
        pytest.fail("espeak-ng is missing: `make test` installs it (Debian espeak-ng)")
    pcm = pad(espeak.speak("When did you open the Lisbon office?"))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    reply = next(t["text"] for t in stored["turns"] if t["role"] == "bot")
    assert "2022" in reply, reply


def test_a_question_the_notes_cannot_answer_gets_no_invented_answer(engines, tmp_path):
    pcm = pad(speak(engines, "Who are your investors?"))
    _, stored = call(engines, WavCaller(pcm, 30), tmp_path)
    reply = next(t["text"] for t in stored["turns"] if t["role"] == "bot")
    assert reply == LINES.dont_know
