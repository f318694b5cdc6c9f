"""End-of-turn detection: webrtcvad decisions per 20 ms frame, turned into turn events.

Events, in the order one caller turn produces them::

    SpeechStarted → (SpeechPaused → TurnCheck* → SpeechResumed)* → [SpeechPaused → TurnCheck*]
                  → TurnEnded

``SpeechPaused`` fires ``pause_ms`` into a silence, carrying the audio a ``TurnEnded`` would
carry if the silence lasts; the conversation transcribes it early (and may prepare the whole
reply) so it is ready when the turn ends. ``TurnEnded.audio`` is byte-identical to the last
pause's audio when no speech came between them, which is how that early work is recognised
as reusable.

A turn ends after ``end_ms`` of silence, or earlier when the conversation calls
:meth:`Endpointer.end_now` because a turn model judged it finished. ``TurnCheck`` is the cue to
ask that model: at ``pause_ms`` and every ``check_every_ms`` after, with the audio so far.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

from ceoline.config import VadConfig
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE, rms_dbfs


@dataclass(frozen=True)
class SpeechStarted:
    t_ms: int


@dataclass(frozen=True)
class SpeechPaused:
    t_ms: int
    speech_end_ms: int
    audio: bytes

    def ended(self, event: TurnEnded) -> bool:
        """The turn ended on this pause, with no speech since: work begun here is valid."""
        return self.speech_end_ms == event.speech_end_ms and self.audio == event.audio


@dataclass(frozen=True)
class SpeechResumed:
    t_ms: int


@dataclass(frozen=True)
class TurnCheck:
    t_ms: int
    silence_ms: int
    audio: bytes  # the whole turn so far, its trailing silence included


@dataclass(frozen=True)
class TurnEnded:
    speech_start_ms: int
    speech_end_ms: int
    decided_ms: int
    audio: bytes
    forced: bool = False

    @property
    def endpoint_ms(self) -> int:
        return self.decided_ms - self.speech_end_ms


Event = SpeechStarted | SpeechPaused | SpeechResumed | TurnCheck | TurnEnded


class Endpointer:
    """Feed 16 kHz 20 ms frames with :meth:`push`; get back the turn events they complete."""

    def __init__(
        self,
        config: VadConfig,
        prefetch_ms: int = 0,
        tail_ms: int = 160,
        *,
        end_ms: int | None = None,
        check_every_ms: int = 0,
    ):
        """``prefetch_ms``: when ``SpeechPaused`` fires (0: never); ``end_ms``: the silence
        that ends a turn (default ``[vad] end_of_turn_ms``); ``check_every_ms`` > 0 adds
        ``TurnCheck`` events from the pause on."""
        self.config = config
        self._vad = webrtcvad.Vad(config.aggressiveness)
        self._silero = None
        if config.engine == "silero":
            from ceoline.voice.silero import SileroFrames

            self._silero = SileroFrames()
        self._onset_frames = max(1, config.min_speech_ms // FRAME_MS)
        end_ms = config.end_of_turn_ms if end_ms is None else end_ms
        self._end_frames = max(1, end_ms // FRAME_MS)
        prefetch_ok = 0 < prefetch_ms < end_ms
        self._prefetch_frames = prefetch_ms // FRAME_MS if prefetch_ok else 0
        self._check_frames = check_every_ms // FRAME_MS if self._prefetch_frames else 0
        # Whisper transcribes a clipped last word worse, so a turn keeps a little silence.
        self._tail_frames = max(1, (prefetch_ms or tail_ms) // FRAME_MS)
        self._preroll_frames = config.preroll_ms // FRAME_MS
        self._max_frames = config.max_turn_ms // FRAME_MS
        self.last_voiced = False
        self.reset()

    def reset(self) -> None:
        self._history: deque[tuple[bytes, bool, int]] = deque(
            maxlen=self._preroll_frames + self._onset_frames
        )
        self._in_speech = False
        self._frames: list[bytes] = []
        self._silence_run = 0
        self._paused = False
        self._start_ms = 0
        self._last_voiced_index = 0
        self._last_voiced_end_ms = 0
        self._extra_end_frames = 0

    def extend(self, ms: int) -> None:
        """Wait ``ms`` longer for this turn's end: the caller paused mid-sentence."""
        if self._in_speech:
            self._extra_end_frames = max(self._extra_end_frames, ms // FRAME_MS)

    def end_now(self, t_ms: int) -> TurnEnded | None:
        """End the turn at once, if the caller is still silent since the last pause."""
        if not (self._in_speech and self._paused):
            return None
        return self._end(t_ms, forced=False)

    def _end(self, t_ms: int, forced: bool) -> TurnEnded:
        event = TurnEnded(
            speech_start_ms=self._start_ms,
            speech_end_ms=self._last_voiced_end_ms,
            decided_ms=t_ms,
            audio=self._turn_audio(),
            forced=forced,
        )
        self.reset()
        return event

    @property
    def silence_ms(self) -> int:
        """How long the caller has been silent inside the current turn."""
        return self._silence_run * FRAME_MS if self._in_speech else 0

    @property
    def in_speech(self) -> bool:
        """True while the caller is talking (from onset until the turn is decided)."""
        return self._in_speech

    def is_voiced(self, frame: bytes) -> bool:
        if self._silero is not None:
            # The model keeps its state only if it hears every frame, quiet ones too.
            probability = self._silero.push(frame)
            if rms_dbfs(frame) < self.config.min_energy_dbfs:
                return False
            return probability >= self.config.silero_threshold
        if rms_dbfs(frame) < self.config.min_energy_dbfs:
            return False
        return self._vad.is_speech(frame, SAMPLE_RATE)

    def push(self, frame: bytes, t_ms: int) -> list[Event]:
        """``t_ms`` is the frame's start on the call timeline."""
        voiced = self.last_voiced = self.is_voiced(frame)
        if not self._in_speech:
            return self._push_idle(frame, voiced, t_ms)
        return self._push_speech(frame, voiced, t_ms)

    def _push_idle(self, frame: bytes, voiced: bool, t_ms: int) -> list[Event]:
        self._history.append((frame, voiced, t_ms))
        window = list(self._history)[-self._onset_frames :]
        if len(window) < self._onset_frames:
            return []
        if sum(v for _, v, _ in window) < max(1, round(0.8 * self._onset_frames)):
            return []
        first_voiced = next(i for i, (_, v, _) in enumerate(window) if v)
        self._in_speech = True
        self._start_ms = window[first_voiced][2]
        self._frames = [f for f, _, _ in self._history]
        self._last_voiced_index = len(self._frames) - 1
        self._last_voiced_end_ms = t_ms + FRAME_MS
        self._silence_run = 0
        self._paused = False
        self._history.clear()
        return [SpeechStarted(self._start_ms)]

    def flush(self, t_ms: int) -> TurnEnded | None:
        """End a turn still in progress (the call is ending); None when nobody is speaking."""
        if not self._in_speech:
            return None
        return self._end(t_ms, forced=True)

    def _turn_audio(self) -> bytes:
        end = min(len(self._frames), self._last_voiced_index + 1 + self._tail_frames)
        return b"".join(self._frames[:end])

    def _push_speech(self, frame: bytes, voiced: bool, t_ms: int) -> list[Event]:
        self._frames.append(frame)
        events: list[Event] = []
        if voiced:
            self._last_voiced_index = len(self._frames) - 1
            self._last_voiced_end_ms = t_ms + FRAME_MS
            self._silence_run = 0
            if self._paused:
                self._paused = False
                events.append(SpeechResumed(t_ms))
        else:
            self._silence_run += 1
        now = t_ms + FRAME_MS
        if self._prefetch_frames and self._silence_run == self._prefetch_frames:
            self._paused = True
            events.append(SpeechPaused(now, self._last_voiced_end_ms, self._turn_audio()))
        since_pause = self._silence_run - self._prefetch_frames
        if self._check_frames and since_pause >= 0 and since_pause % self._check_frames == 0:
            silence = self._silence_run * FRAME_MS
            events.append(TurnCheck(now, silence, b"".join(self._frames)))
        forced = len(self._frames) >= self._max_frames
        if self._silence_run >= self._end_frames + self._extra_end_frames or forced:
            events.append(
                TurnEnded(
                    speech_start_ms=self._start_ms,
                    speech_end_ms=self._last_voiced_end_ms if not forced else now,
                    decided_ms=now,
                    audio=self._turn_audio() if not forced else b"".join(self._frames),
                    forced=forced and self._silence_run < self._end_frames + self._extra_end_frames,
                )
            )
            self.reset()
        return events
