"""Whisper in a short encoder window: the same words as the full 30 s pass, in less time;
silence, long turns and runaway decoding take the full pass."""

import copy
import dataclasses

import numpy as np
import pytest

from ceoline.admin.answer_eval import word_errors
from ceoline.voice.audio import SAMPLE_RATE, read_wav, through_phone_line
from ceoline.voice.stt import _compression_ratio

from ..conftest import DATA

pytestmark = pytest.mark.models


def elapsed(transcript):
    return transcript.elapsed_ms


@pytest.fixture(scope="module")
def full(engines):
    """The same model and lock, always in the full 30 s window, with the line's names."""
    transcriber = copy.copy(engines.transcriber.transcriber)
    transcriber.window_s = 0
    return dataclasses.replace(engines.transcriber, transcriber=transcriber)


@pytest.mark.parametrize("name", ["question-mission.wav", "question-founding.wav"])
def test_a_short_turn_reads_the_same_as_in_the_full_window(engines, full, name):
    pcm = read_wav(DATA / name)
    for audio in (pcm, through_phone_line(pcm)):
        # Best of two each: the short window encodes 12 s instead of 30, a margin that one
        # run of each can lose when another process takes a core for a moment.
        short = min((engines.transcriber.transcribe(audio) for _ in "ab"), key=elapsed)
        whole = min((full.transcribe(audio) for _ in "ab"), key=elapsed)
        edits, words = word_errors(whole.text, short.text)
        # At most a name heard as one word in one window and two in the other.
        assert words >= 4 and edits <= 2, (whole.text, short.text)
        assert short.elapsed_ms < whole.elapsed_ms


def test_silence_is_no_words(engines):
    assert engines.transcriber.transcribe(np.zeros(2 * SAMPLE_RATE, np.int16)).text == ""


def test_a_turn_longer_than_the_window_takes_the_full_pass(engines):
    pcm = read_wav(DATA / "question-mission.wav")
    long = np.concatenate([pcm] * 4)  # past 12 s less the 2 s tail
    assert len(long) > (engines.config.stt.window_s - 2) * SAMPLE_RATE
    text, _ = engines.transcriber.transcriber._in_short_window(
        long.astype(np.float32) / 32768, None
    )
    assert text is None


def test_an_unsure_decode_takes_the_full_pass(engines):
    # Near-silence under the hotwords prompt decodes to a low-confidence "you".
    heard, _ = engines.transcriber.transcriber._in_short_window(
        np.zeros(SAMPLE_RATE, np.float32), "x"
    )
    assert heard in ("", None)


def test_a_transcript_that_repeats_itself_is_caught():
    assert _compression_ratio("thank you " * 30) > 2.4
    assert _compression_ratio("What is the mission of your company?") < 2.4


def test_whisper_base_hears_the_company_through_an_unseen_voice_on_a_phone_line(engines):
    """The larger packaged Whisper, joined by `make install`, in the live path's own window."""
    from ceoline.locator import locate
    from ceoline.voice import espeak
    from ceoline.voice.stt import Transcriber

    config = engines.config
    model = locate("stt", "base", config.models_dir)
    base = Transcriber(model, config.stt, config.runtime)
    asked = "Why did you start Quillfern in the first place?"
    heard = base.transcribe(through_phone_line(espeak.speak(asked)), engines.line.hotwords)
    edits, _ = word_errors(asked, heard.text)
    assert edits <= 2 and "quillfern" in heard.text.lower(), heard.text


def test_whisper_says_which_words_it_knows_whole(engines):
    knows = engines.transcriber.knows_whole
    assert knows("portable") and knows("Madrid") and knows("welcome")
    assert not knows("Wilfern") and not knows("quillford") and not knows("Fenwik")


def test_whisper_reading_back_its_hotwords_is_not_taken_for_words():
    from ceoline.voice.stt import echoes_prompt

    hotwords = "Theo Marchetti Quillfern Sverige Swish Hjälp EU Göteborg Järntorgsgatan"
    assert echoes_prompt("Hjälp EU Göteborg Järntorgsgatan", hotwords)
    assert echoes_prompt("Göteborg, Sverige.", hotwords)
    assert not echoes_prompt("Quillfern", hotwords)  # a caller may say one name alone
    assert not echoes_prompt("Har ni ett kontor i Göteborg?", hotwords)
