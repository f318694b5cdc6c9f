"""When is the caller done? The turn model's verdicts, kept in step with the call's pauses.

The endpointer cues a check at every pause (``TurnCheck``); the model runs in a worker thread,
never on the tick, and its verdict is read on a later tick. A verdict belongs to the pause it
was asked in: once the caller speaks again it is void, however late it arrives.
"""

from __future__ import annotations

import asyncio
import logging

from ceoline.voice.endpointing import TurnCheck
from ceoline.voice.turn_model import TurnModel, TurnVerdict

log = logging.getLogger(__name__)


class TurnJudge:
    def __init__(self, model: TurnModel, threshold: float):
        self.model = model
        self.threshold = threshold
        self._pause = 0
        self._busy = False
        self._finished: TurnVerdict | None = None
        self.checks = 0
        self.last: TurnVerdict | None = None

    def ask(self, check: TurnCheck) -> None:
        """Judge the turn so far. A check still running is not queued behind: the next cue
        comes with more silence, which is better evidence than a stale window."""
        if self._busy:
            return
        self._busy = True
        self.checks += 1
        pause = self._pause
        future = asyncio.ensure_future(asyncio.to_thread(self.model.judge, check.audio))
        future.add_done_callback(lambda done: self._on_verdict(done, pause))

    def _on_verdict(self, done: asyncio.Future, pause: int) -> None:
        self._busy = False
        if done.cancelled():
            return
        if done.exception() is not None:
            log.error("turn model failed: %s", done.exception())
            return
        verdict = done.result()
        if pause != self._pause:
            return  # the caller went on while the model listened
        self.last = verdict
        if verdict.complete >= self.threshold:
            self._finished = verdict

    def resumed(self) -> None:
        """The caller speaks again: every verdict on the pause before is void."""
        self._pause += 1
        self._finished = None

    @property
    def finished(self) -> TurnVerdict | None:
        """The verdict that the caller has finished this pause; None while none has come."""
        return self._finished

    def turn_over(self) -> tuple[int, TurnVerdict | None]:
        """The checks this turn took and the last verdict; the count starts again."""
        checks, last = self.checks, self.last
        self.checks, self.last = 0, None
        self.resumed()
        return checks, last
