"""Silero VAD from the pipecat-ai wheel as the endpointer's frame classifier."""

import dataclasses

import numpy as np

from ceoline.config import VadConfig
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE, frames
from ceoline.voice.endpointing import Endpointer, SpeechStarted, TurnEnded
from ceoline.voice.silero import SileroFrames

from ..conftest import speech_segment


def test_speech_scores_high_and_silence_low():
    silero = SileroFrames()
    pcm = np.concatenate([np.zeros(SAMPLE_RATE, np.int16), speech_segment(1.5)])
    scores = [silero.push(f) for f in frames(pcm)]
    assert max(scores[:40]) < 0.2  # the first second is silence
    assert np.mean([s > 0.5 for s in scores[55:]]) > 0.7


def test_the_endpointer_finds_a_turn_with_silero():
    config = dataclasses.replace(VadConfig(), engine="silero")
    endpointer = Endpointer(config)
    pcm = np.concatenate([np.zeros(6000, np.int16), speech_segment(1.2), np.zeros(16000, np.int16)])
    events = [e for i, f in enumerate(frames(pcm)) for e in endpointer.push(f, i * FRAME_MS)]
    assert isinstance(events[0], SpeechStarted) and isinstance(events[-1], TurnEnded)
    assert abs(events[-1].speech_end_ms - (6000 / 16 + 1200)) <= 200
