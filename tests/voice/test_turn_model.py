"""Smart Turn v3.2, the real embedded model: a finished question and a drawn-out filler."""

import numpy as np
import pytest

from ceoline.voice.audio import SAMPLE_RATE, read_wav
from ceoline.voice.turn_model import WINDOW_SAMPLES, _window

from ..conftest import DATA


def trailing_silence(pcm: np.ndarray, ms: int) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    speech = pcm[: loud[-1] + 1]
    return np.concatenate([speech, np.zeros(SAMPLE_RATE * ms // 1000, np.int16)])


@pytest.mark.models
def test_a_finished_question_is_heard_as_finished(engines):
    pcm = trailing_silence(read_wav(DATA / "question-mission.wav"), 200)
    verdict = engines.turn_model.judge(pcm)
    assert verdict.complete >= engines.config.turn.threshold
    assert verdict.elapsed_ms > 0


@pytest.mark.models
def test_a_drawn_out_filler_is_heard_as_unfinished(engines):
    pcm = trailing_silence(engines.synthesizer.synthesize("My question is, um").pcm, 200)
    assert engines.turn_model.judge(pcm).complete < engines.config.turn.threshold


def test_the_window_keeps_the_last_eight_seconds():
    long = np.arange(10 * SAMPLE_RATE, dtype=np.int64).astype(np.int16)
    assert len(_window(long)) == WINDOW_SAMPLES
    short = np.ones(SAMPLE_RATE, np.int16)
    window = _window(short)
    assert len(window) == WINDOW_SAMPLES and window[0] == 0 and window[-1] > 0  # padded in front
