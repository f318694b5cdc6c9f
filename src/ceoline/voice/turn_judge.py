"""When is the caller done? The turn model's verdicts, weighed with the early transcript.

The endpointer cues a check at every pause (``TurnCheck``); the model runs in a worker thread,
never on the tick, and its verdict is read on a later tick. A verdict belongs to the pause it
was asked in: once the caller speaks again it is void, however late it arrives.

How the verdicts end a turn (:func:`ends_turn`) was chosen on the labelled pause set
(``ceoline eval turns``): a question (a "?", or a question's opening word once the usual
Whisper slips are repaired) ends on one verdict of ``threshold`` or more, at the first pause;
any other sentence needs ``statement_ms`` of silence and two verdicts of
``statement_threshold`` in a row, because on phone audio a list item or a number read slowly
sounds finished to the model as often as a real end does.
Words that hang mid-sentence never end a turn here: the fallback silence does.
"""

from __future__ import annotations

import asyncio
import logging

from ceoline.config import TurnConfig
from ceoline.trust.dialogue import repair_question
from ceoline.voice.endpointing import TurnCheck
from ceoline.voice.turn_model import TurnModel, TurnVerdict
from ceoline.voice.word_rules import is_question, looks_unfinished

log = logging.getLogger(__name__)

# (silence in ms when asked, the verdict), oldest first, for one pause.
Verdicts = list[tuple[int, TurnVerdict]]


def ends_turn(text: str, verdicts: Verdicts, config: TurnConfig) -> bool:
    """Do the words so far and the model's verdicts on this pause end the turn now?"""
    if not verdicts or not text.strip() or looks_unfinished(text):
        return False
    silence, last = verdicts[-1]
    if is_question(repair_question(text)):
        return last.complete >= config.threshold
    if silence < config.statement_ms or len(verdicts) < 2:
        return False
    return min(v.complete for _, v in verdicts[-2:]) >= config.statement_threshold


class TurnJudge:
    def __init__(self, model: TurnModel, config: TurnConfig):
        self.model = model
        self.config = config
        self._pause = 0
        self._busy = False
        self.verdicts: Verdicts = []
        self.checks = 0

    def ask(self, check: TurnCheck) -> None:
        """Judge the turn so far. A check still running is not queued behind: the next cue
        comes with more silence, which is better evidence than a stale window."""
        if self._busy:
            return
        self._busy = True
        self.checks += 1
        pause = self._pause
        future = asyncio.ensure_future(asyncio.to_thread(self.model.judge, check.audio))
        future.add_done_callback(lambda done: self._on_verdict(done, pause, check.silence_ms))

    def _on_verdict(self, done: asyncio.Future, pause: int, silence_ms: int) -> None:
        self._busy = False
        if done.cancelled():
            return
        if done.exception() is not None:
            log.error("turn model failed: %s", done.exception())
            return
        if pause == self._pause:  # else the caller went on while the model listened
            self.verdicts.append((silence_ms, done.result()))

    def ends_turn(self, text: str) -> bool:
        return ends_turn(text, self.verdicts, self.config)

    @property
    def last(self) -> TurnVerdict | None:
        return self.verdicts[-1][1] if self.verdicts else None

    def resumed(self) -> None:
        """The caller speaks again: every verdict on the pause before is void."""
        self._pause += 1
        self.verdicts = []

    def turn_over(self) -> tuple[int, TurnVerdict | None]:
        """The checks this turn took and the last verdict; the count starts again."""
        checks, last = self.checks, self.last
        self.checks = 0
        self.resumed()
        return checks, last
