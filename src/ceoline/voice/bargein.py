"""Barge-in: when caller speech during the bot's speech is an interruption.

Two stages, because the two requirements pull apart. The bot must go quiet within 200 ms of
a real interruption, but a backchannel ("mm-hm", "yeah") or a cough must not cost the caller
the answer. So ``stop_after_ms`` of caller speech **pauses** the bot's audio at once; speech
that lasts to ``confirm_ms`` from its onset **commits** the interruption (the reply is
dropped, the caller is answered); speech that stops first lets the bot **resume** where it
paused, nothing lost.

Echo (the bot's own voice returning down the line) never reaches this detector: the echo
canceller (echo.py) has taken it out of the caller's audio first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ceoline.config import BargeInConfig
from ceoline.voice.audio import FRAME_MS


class BargeAction(Enum):
    PAUSE = "pause"
    RESUME = "resume"
    COMMIT = "commit"


@dataclass
class BargeIn:
    """One barge-in attempt: ``stopped_ms - onset_ms`` is the stop latency."""

    onset_ms: int
    stopped_ms: int
    committed: bool = False
    resumed_ms: int | None = None

    @property
    def latency_ms(self) -> int:
        return self.stopped_ms - self.onset_ms


class BargeInDetector:
    def __init__(self, config: BargeInConfig):
        self.config = config
        self._stop_frames = max(1, config.stop_after_ms // FRAME_MS)
        self.reset()

    def reset(self) -> None:
        self._run = 0
        self._gap = 0
        self._onset: int | None = None
        self._paused = False
        self._quiet_ms = 0
        self.current: BargeIn | None = None

    @property
    def paused(self) -> bool:
        return self._paused

    def push(self, speech: bool, t_ms: int, bot_active: bool) -> BargeAction | None:
        """``speech``: this frame is caller speech loud enough and not echo.

        ``t_ms`` is the frame's start; an action takes effect from the next frame out.
        """
        if not self.config.enabled or not bot_active:
            if self._paused:
                self.reset()
                return BargeAction.RESUME
            self.reset()
            return None
        if not self._paused:
            if speech:
                if self._onset is None:
                    self._onset = t_ms
                self._run += 1
                self._gap = 0
            elif self._onset is not None:
                self._gap += 1
                if self._gap > 1:  # one dropped frame inside a word is not a stop
                    self._run = 0
                    self._onset = None
                    self._gap = 0
            if self._run >= self._stop_frames:
                self._paused = True
                onset = self._onset if self._onset is not None else t_ms
                self.current = BargeIn(onset_ms=onset, stopped_ms=t_ms + FRAME_MS)
                return BargeAction.PAUSE
            return None
        if self.current.committed:
            return None  # already an interruption; the caller is taking the turn
        if speech:
            self._quiet_ms = 0
            if t_ms + FRAME_MS - self.current.onset_ms >= self.config.confirm_ms:
                self.current.committed = True
                return BargeAction.COMMIT
            return None
        self._quiet_ms += FRAME_MS
        if self._quiet_ms >= self.config.resume_after_ms:
            self.current.resumed_ms = t_ms + FRAME_MS
            self._paused = False
            self._run = 0
            self._onset = None
            return BargeAction.RESUME
        return None
