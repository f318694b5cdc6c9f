import numpy as np

from ceoline.config import VadConfig
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE, frames
from ceoline.voice.endpointing import (
    Endpointer,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnCheck,
    TurnEnded,
)

from ..conftest import speech_segment


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def run(pcm: np.ndarray, config: VadConfig | None = None, prefetch_ms: int = 0):
    endpointer = Endpointer(config or VadConfig(), prefetch_ms=prefetch_ms)
    events = []
    for i, frame in enumerate(frames(pcm)):
        events += endpointer.push(frame, i * FRAME_MS)
    return events


def test_silence_gives_no_events():
    assert run(silence(3)) == []


def test_one_turn_with_timings():
    pcm = np.concatenate([silence(1), speech_segment(1.5), silence(1)])
    events = run(pcm)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    start, end = events
    assert 900 <= start.t_ms <= 1300
    assert 2300 <= end.speech_end_ms <= 2560
    assert end.endpoint_ms == 500  # the configured end-of-turn silence, to the frame
    assert len(end.audio) > 1.2 * SAMPLE_RATE * 2


def test_end_of_turn_silence_is_configurable():
    pcm = np.concatenate([silence(0.5), speech_segment(1.0), silence(1.5)])
    (_, end) = run(pcm, VadConfig(end_of_turn_ms=1000))
    assert end.endpoint_ms == 1000


def test_short_blip_is_not_a_turn():
    pcm = np.concatenate([silence(1), speech_segment(0.1), silence(1)])
    assert run(pcm, VadConfig(min_speech_ms=200)) == []


def test_quiet_speech_below_energy_floor_is_ignored():
    quiet = (speech_segment(1.0).astype(np.float32) * 0.001).astype(np.int16)
    pcm = np.concatenate([silence(0.5), quiet, silence(1)])
    assert run(pcm, VadConfig(min_energy_dbfs=-40.0)) == []


def test_mid_sentence_pause_shorter_than_window_does_not_end_turn():
    pcm = np.concatenate(
        [silence(0.5), speech_segment(1.0), silence(0.3), speech_segment(1.0), silence(1)]
    )
    events = run(pcm, VadConfig(end_of_turn_ms=500))
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]


def test_prefetch_audio_is_identical_to_the_final_turn_audio():
    pcm = np.concatenate([silence(0.5), speech_segment(1.2), silence(1)])
    events = run(pcm, prefetch_ms=160)
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, TurnEnded]
    paused, ended = events[1], events[2]
    assert paused.audio == ended.audio and paused.speech_end_ms == ended.speech_end_ms
    assert paused.t_ms < ended.decided_ms


def test_resumed_speech_invalidates_the_pause():
    pcm = np.concatenate(
        [silence(0.5), speech_segment(1.0), silence(0.3), speech_segment(0.8), silence(1)]
    )
    events = run(pcm, prefetch_ms=160)
    kinds = [type(e) for e in events]
    assert kinds[:3] == [SpeechStarted, SpeechPaused, SpeechResumed]
    assert kinds[-1] is TurnEnded
    assert events[-2].audio == events[-1].audio  # the last pause matches the final turn


def test_overlong_turn_is_cut():
    pcm = np.concatenate([silence(0.2), speech_segment(3.0)])
    events = run(pcm, VadConfig(max_turn_ms=1000))
    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert ended and ended[0].forced


def test_turn_checks_come_at_the_pause_then_at_each_interval():
    endpointer = Endpointer(VadConfig(), prefetch_ms=200, end_ms=1500, check_every_ms=300)
    pcm = np.concatenate([silence(0.3), speech_segment(1.0), silence(2.0)])
    events = [e for i, f in enumerate(frames(pcm)) for e in endpointer.push(f, i * FRAME_MS)]
    checks = [e.silence_ms for e in events if isinstance(e, TurnCheck)]
    assert checks == [200, 500, 800, 1100, 1400]
    (ended,) = [e for e in events if isinstance(e, TurnEnded)]
    assert ended.endpoint_ms == 1500  # nobody ended it sooner: the fallback did
    (paused,) = [e for e in events if isinstance(e, SpeechPaused)]
    assert paused.audio == ended.audio


def test_end_now_ends_a_paused_turn_with_the_pause_audio():
    endpointer = Endpointer(VadConfig(), prefetch_ms=200, end_ms=1500, check_every_ms=300)
    pcm = np.concatenate([silence(0.3), speech_segment(1.0), silence(0.4)])
    paused = None
    for i, frame in enumerate(frames(pcm)):
        for event in endpointer.push(frame, i * FRAME_MS):
            if isinstance(event, SpeechPaused):
                paused = event
                assert endpointer.end_now(i * FRAME_MS) is not None
                break
        if paused is not None:
            break
    assert paused is not None and not endpointer.in_speech
    assert endpointer.end_now(0) is None  # no turn in progress: nothing to end


def test_end_now_does_nothing_while_the_caller_speaks():
    endpointer = Endpointer(VadConfig(), prefetch_ms=200, end_ms=1500, check_every_ms=300)
    for i, frame in enumerate(frames(np.concatenate([silence(0.3), speech_segment(0.8)]))):
        endpointer.push(frame, i * FRAME_MS)
    assert endpointer.in_speech and endpointer.end_now(1100) is None
