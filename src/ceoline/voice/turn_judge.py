"""When is the caller done? The reply model's reading of the early transcript, the turn
reader's over it, and the turn model's verdicts on the sound of the turn.

The endpointer cues a check at every pause (``TurnCheck``); the turn model runs in a worker
thread, never on the tick, and its verdict is read on a later tick. Once the pause's early
transcript is in, the reply model is asked too (``LanguageModel.end_of_turn``: the chance its
chat template's end-of-message token comes next). Both belong to the pause they were asked
in: once the caller speaks again they are void, however late they arrive.

How they end a turn (:func:`ends_turn`) was chosen on the labelled pause set (``ceoline eval
turns``; the signals alone: ``scripts/turn_signals.py``): the words end it at once when the
reply model gives their end ``text_threshold`` or more, which on that set sorts finished turns
from holds far better than the sound does. Otherwise a question (a "?", or a question's
opening word once the usual Whisper slips are repaired) ends on one verdict of ``threshold``
or more; any other sentence the turn reader (:mod:`ceoline.voice.turn_reader`, trained on caller
turns cut at every word) reads as finished, ``reader_threshold`` or more, ends on one verdict
of ``reader_verdict``; one it is surer of, ``reader_alone`` or more, also ends after
``reader_wait_ms`` of silence (counted at every tick, not only when a verdict comes) whatever
the verdicts (Smart Turn hears a voice unlike its training voices as unfinished: a finished
complaint in espeak-ng's voice reads 0.0–0.1); one it reads as unfinished, under
``reader_floor``, waits for the fallback silence; one it is unsure of needs ``statement_ms``
of silence and two verdicts of ``statement_threshold`` in a row, because on phone audio a list
item or a number read slowly sounds finished to the model as often as a real end does.
Words that hang mid-sentence never end a turn here: the fallback silence does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from ceoline.config import TurnConfig
from ceoline.trust.dialogue import repair_question
from ceoline.trust.languages import ENGLISH, Language
from ceoline.voice.endpointing import TurnCheck
from ceoline.voice.llm import EndReading, Message
from ceoline.voice.turn_model import TurnModel, TurnVerdict
from ceoline.voice.turn_reader import TurnReader
from ceoline.voice.word_rules import WordRules

log = logging.getLogger(__name__)

# (silence in ms when asked, the verdict), oldest first, for one pause.
Verdicts = list[tuple[int, TurnVerdict]]


class WordsRead(NamedTuple):
    """What was read from a pause's words: P(end of message), the reader's P(finished) (None
    without a reader) and the time both took (ms)."""

    end: float
    finished: float | None
    ms: float


# The reply model's next-token distribution after the caller's words, given what precedes
# them in the prompt (``LanguageModel.read_end``).
WordsModel = Callable[[list[Message], str], "EndReading | None"]


def ends_turn(
    text: str,
    verdicts: Verdicts,
    config: TurnConfig,
    words_end: float | None = None,
    words_finished: float | None = None,
    silence_ms: int = 0,
    language: Language = ENGLISH,
) -> bool:
    """Do the words so far, the reply model's reading of them (``words_end``: P(end of
    message)), the turn reader's (``words_finished``: P(finished)) and the turn model's
    verdicts on this pause end the turn now? ``silence_ms``: the caller's silence now, which
    the reader's waits count (the verdicts' own come only every ``recheck_ms``). ``language``:
    the line's, whose word rules say which words hang and which ask."""
    rules = WordRules(language.words)
    if not text.strip() or rules.looks_unfinished(text):
        return False
    if words_end is not None and 0 < config.text_threshold <= words_end:
        return True
    if not verdicts:
        return False
    silence, last = verdicts[-1]
    if rules.is_question(repair_question(text, language)):
        return last.complete >= config.threshold
    if words_finished is not None:
        if words_finished >= config.reader_threshold and last.complete >= config.reader_verdict:
            return True
        if words_finished >= config.reader_alone:
            return max(silence, silence_ms) >= config.reader_wait_ms
        if words_finished < config.reader_floor:
            return False
    if silence < config.statement_ms or len(verdicts) < 2:
        return False
    return min(v.complete for _, v in verdicts[-2:]) >= config.statement_threshold


class TurnJudge:
    def __init__(
        self,
        model: TurnModel,
        config: TurnConfig,
        words: WordsModel | None = None,
        reader: TurnReader | None = None,
        language: Language = ENGLISH,
    ):
        """``words``: the reply model's end-of-turn reading; None (or ``text_threshold`` 0)
        leaves the turn to the turn model's verdicts alone. ``reader``: the turn reader over
        that reading; None leaves statements to the verdicts. ``language``: the line's."""
        self.model = model
        self.config = config
        self.words = words if config.text_threshold > 0 else None
        self.reader = reader
        self.language = language
        self._rules = WordRules(language.words)
        self._pause = 0
        self._busy = False
        self.verdicts: Verdicts = []
        self.checks = 0
        # The reply model's reading of this pause's words, the reader's, and what they took (ms).
        self.words_end: float | None = None
        self.words_finished: float | None = None
        self.words_ms: float | None = None

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

    def ask_words(
        self, transcript: asyncio.Future, context: list[Message]
    ) -> asyncio.Future | None:
        """Once the pause's early transcript is in, ask the reply model whether the words
        end the turn. ``context``: what precedes the caller's words in the reply's prompt.
        The returned future is done once the model has answered (or was not asked): the
        prepared reply waits for it, so the model evaluates the shared prompt prefix once.
        None when no reply model reads the words."""
        if self.words is None:
            return None
        return asyncio.ensure_future(self._read_words(transcript, context, self._pause))

    async def _read_words(
        self, transcript: asyncio.Future, context: list[Message], pause: int
    ) -> None:
        try:
            text = (await asyncio.shield(transcript)).text
        except Exception:  # the transcript's own consumer reports its failure
            return
        if pause != self._pause or not text.strip() or self._rules.looks_unfinished(text):
            return
        started = time.perf_counter()
        try:
            reading = await asyncio.to_thread(self.words, context, text)
        except Exception as exc:
            log.error("reply model's end-of-turn reading failed: %s", exc)
            return
        if reading is None or pause != self._pause:  # the caller went on while it read
            return
        self.words_end = reading.p_end
        if self.reader is not None:
            self.words_finished = self.reader.p_finished(reading, text)
        self.words_ms = (time.perf_counter() - started) * 1000

    def _on_verdict(self, done: asyncio.Future, pause: int, silence_ms: int) -> None:
        self._busy = False
        if done.cancelled():
            return
        if done.exception() is not None:
            log.error("turn model failed: %s", done.exception())
            return
        if pause == self._pause:  # else the caller went on while the model listened
            self.verdicts.append((silence_ms, done.result()))

    def ends_turn(self, text: str, silence_ms: int = 0) -> bool:
        return ends_turn(
            text,
            self.verdicts,
            self.config,
            self.words_end,
            self.words_finished,
            silence_ms,
            self.language,
        )

    @property
    def last(self) -> TurnVerdict | None:
        return self.verdicts[-1][1] if self.verdicts else None

    def resumed(self) -> None:
        """The caller speaks again: every verdict on the pause before is void."""
        self._pause += 1
        self.verdicts = []
        self.words_end = self.words_finished = self.words_ms = None

    def turn_over(self) -> tuple[int, TurnVerdict | None, WordsRead | None]:
        """The checks this turn took, the last verdict and the readings of the words of the
        last pause; the count starts again."""
        checks, last = self.checks, self.last
        words = (
            WordsRead(self.words_end, self.words_finished, self.words_ms or 0.0)
            if self.words_end is not None
            else None
        )
        self.checks = 0
        self.resumed()
        return checks, last, words
