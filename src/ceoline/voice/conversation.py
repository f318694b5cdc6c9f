"""One call's voice loop, independent of how audio arrives (WAV file today, SIP later).

A driver calls :meth:`Conversation.push_caller_frame` and :meth:`Conversation.next_bot_frame`
once per 20 ms tick. Both only move bytes and update state: transcription, generation and
synthesis run in worker threads, so a slow model never delays a frame.

A caller turn flows::

    Endpointer ─SpeechPaused─► early STT ─► decision ─► LLM ─► Piper, held (speculation.py)
                                   └─► the LLM reads the words: does the turn end? ─┐
               ─TurnCheck───► turn model, in a thread ─► verdict ─► turn_judge.py ─┴► end now
               ─TurnEnded───► the held reply (or STT ─► LLM token stream ─► Chunker
                              ─► Piper, one piece at a time) ─► Utterance buffer ─► frames out

In ``streaming=False`` mode (the benchmark's baseline) the same stages run one after another:
whole transcript, whole reply, whole synthesis, then playback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ceoline.config import Config
from ceoline.hours import parse_hours
from ceoline.lines import DEFAULT_LINE
from ceoline.persona.profile import Persona
from ceoline.store import ANSWERED_EVENT, Store, TurnRecord
from ceoline.trust.dialogue import Action, Decision, DialoguePolicy
from ceoline.trust.languages import ENGLISH, Language
from ceoline.trust.redaction import redact
from ceoline.voice.audio import FRAME_MS, SILENT_FRAME, rms_dbfs
from ceoline.voice.bargein import BargeAction, BargeIn, BargeInDetector
from ceoline.voice.echo import EchoCanceller
from ceoline.voice.endpointing import (
    Endpointer,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    TurnCheck,
    TurnEnded,
)
from ceoline.voice.llm import Message
from ceoline.voice.reply_writer import ReplyWriter
from ceoline.voice.speculation import Speculation
from ceoline.voice.stt import Transcript
from ceoline.voice.timings import TurnTimings
from ceoline.voice.turn_judge import TurnJudge
from ceoline.voice.utterance import Utterance
from ceoline.voice.word_rules import ENGLISH_WORDS, WordRules, echoes, has_words

log = logging.getLogger(__name__)

# A caller turn a fixed line answers: its timings and its stored seq.
_Answering = tuple["TurnTimings", "int | None"]

# At hang-up, how long the last caller turns may take to transcribe and store.
CLOSE_TRANSCRIBE_S = 10.0


@dataclass(frozen=True)
class Overlap:
    """How a caller's turn met the bot's audio."""

    over_bot: bool = False  # it began over an interruptible reply, which it did not cut
    over_audio: bool = False  # the bot's audio was going out (or its echo due) as it began
    cut_bot: bool = False  # its barge-in stopped the bot
    echo_share: float = 0.0  # of its voiced frames, those that held only the bot's echo


# A turn over the bot's audio with at least this share of its voiced frames holding the
# bot's echo alone is that echo's residue: a caller talking makes frames "mixed" instead.
ECHO_RESIDUE_SHARE = 0.5


def echo_residue(
    text: str,
    transcript: Transcript,
    bot_words: str,
    over: Overlap,
    speech_ms: int,
    words: WordRules = ENGLISH_WORDS,
) -> bool:
    """Heard while the bot's audio went out, ``text`` is its echo coming back, not the caller:
    the bot's own words; or audio the canceller found was mostly echo alone; or a short burst
    Whisper was only guessing at (what it makes of an echo's garbled residue: "I don't know
    if it's going to be..."). A caller talking over the bot is heard clearly, or at length."""
    if echoes(text, bot_words) or over.echo_share >= ECHO_RESIDUE_SHARE:
        return True
    if not transcript.unsure or speech_ms >= RESIDUE_MAX_MS:
        return False
    # Words that cut the bot, or "wait" said over a loud echo, may come out unsure and are
    # still the caller's: the barge-in heard a voice, not an echo.
    return not over.cut_bot and not words.is_stop_request(text)


# An echo leaks past the canceller for a moment while its delay moves (a jitter buffer
# resizing); a caller's garbled sentence through mu-law under a loud echo runs longer (1.9 s
# and more in the over-talk set, some scoring as low as Whisper's -1 line).
RESIDUE_MAX_MS = 1200


# The longest echo path expected (RTP, both jitter buffers, the far end): a turn that begins
# within this of the bot's audio may be its echo.
ECHO_TAIL_MS = 600
# A turn ended over the greeting cannot be answered before the disclosure ends, so the
# caller's going on is waited for until this long before its end: time enough for a model
# reply's first audio to be ready as the greeting stops.
GREETING_REPLY_LEAD_MS = 400


class Stages(Protocol):
    """What a conversation needs from the loaded models (``Engines`` or a test fake)."""

    config: Config
    persona: Persona
    transcriber: Any
    llm: Any
    synthesizer: Any
    # The turn model (``TurnModel``) when [turn] detector = "smart-turn"; absent otherwise.
    turn_model: Any
    # The turn reader (``TurnReader``) when one is configured; absent or None otherwise.
    turn_reader: Any
    # The line the call is on (``ceoline.lines.Line``), and its notes (``KnowledgeBase``);
    # absent in a test fake: the single line, without notes.
    line: Any
    knowledge: Any
    # The line's language table (``ceoline.trust.languages.Language``), and whether the reply
    # model speaks it; absent in a test fake: English, with model replies.
    language: Any
    model_replies: bool

    def cached_speech(self, text: str) -> np.ndarray: ...


def line_name(stages: Stages) -> str:
    """The name of the line a call on ``stages`` is on, to store with it."""
    line = getattr(stages, "line", None)
    return line.name if line is not None else DEFAULT_LINE


@dataclass(frozen=True)
class TurnResult:
    role: str
    text: str
    start_ms: int
    end_ms: int
    timings: TurnTimings | None = None
    understood: str = ""  # a caller's words as answered, when a heard name was put right

    @property
    def timings_ms(self) -> dict:
        if self.role == "caller" and self.timings is not None:
            return self.timings.as_dict()
        return {"audio": float(self.end_ms - self.start_ms)}


class Conversation:
    def __init__(
        self,
        stages: Stages,
        store: Store | None,
        call_id: str | None,
        *,
        streaming: bool = True,
        greet: bool = True,
        reports_sent: bool = False,
    ):
        """``reports_sent``: the driver reports each frame as it actually goes out on the line
        (:meth:`bot_frame_sent`), queueing and underruns included; otherwise the frames
        :meth:`next_bot_frame` returns are taken to go out as they are returned."""
        self.stages = stages
        self.config = stages.config
        self.persona = stages.persona
        # The line's language: what the call says and listens for beyond the persona's words.
        self.language: Language = getattr(stages, "language", None) or ENGLISH
        self.words = WordRules(self.language.words)
        handoff = self.config.handoff
        self.handoff_hours = parse_hours(handoff.hours, handoff.timezone)
        self.store = store
        self.call_id = call_id
        self.streaming = streaming
        self.endpointer, self.judge = _turn_taking(stages, streaming)
        self._speculate = streaming and self.config.turn.speculative
        self._speculation: Speculation | None = None
        self._discarded = (0, 0)  # replies thrown away in the turn so far, and their tokens
        self.turns: list[TurnResult] = []
        self._greet = greet
        self._system = Message("system", self.persona.system_prompt())
        self._history: list[Message] = []
        self._playback: deque[Utterance] = deque()
        self._pending_turns: asyncio.Queue[tuple[TurnEnded, asyncio.Future, bool]] = asyncio.Queue()
        self._prefetch: tuple[SpeechPaused, asyncio.Future] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writes: set[asyncio.Task] = set()
        self._busy_turns = 0
        self._now_ms = 0
        self._tick_wall = time.perf_counter()
        self._closed = False
        self._worker: asyncio.Task | None = None
        self._generation: asyncio.Task | None = None
        self._ending = False
        self.end_reason: str | None = None
        self._goodbye: Utterance | None = None
        self._goodbye_due = False
        self.dtmf: list[str] = []
        self.policy = DialoguePolicy(
            self.config,
            self.persona,
            getattr(stages, "knowledge", None),
            self.language,
            model_replies=getattr(stages, "model_replies", True),
        )
        self.writer = ReplyWriter(
            stages,
            call_id,
            streaming=streaming,
            system=self._system,
            clock=self._clock_ms,
            stopped=lambda: self._closed or self._ending,
            spawn=self._spawn,
            on_guardrail=self._guardrail_event,
            # Only a policy with notes decides a turn is grounded, so it has the answers.
            notes_check=lambda: self.policy.answers.check,
            language=self.language,
        )
        self.bargein = BargeInDetector(self.config.bargein)
        self.echo = EchoCanceller(self.config.echo)
        self._reports_sent = reports_sent
        self.barge_ins: list[BargeIn] = []
        self._carry: tuple[str, int] | None = None
        self._paused = False
        self._turn_over_bot = False
        self._turn_over_audio = False  # the bot's audio was going out when the turn began
        # Of the turn's voiced frames, how many the canceller found held only the bot's echo.
        self._turn_voiced = self._turn_echo_voiced = 0
        self._last_audio_ms = -ECHO_TAIL_MS
        self._turn_barged = False
        # Set by the driver: can it transfer the call (SIP REFER to [handoff] uri)?
        self.can_transfer = False
        # Set by the driver: called with ("transfer", escalation_id) when a transfer is due.
        self.on_action: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._greet:
            # The greeting stays out of the LLM history: small models parrot it back.
            greeting = await self._fixed_utterance(self.persona.greeting)
            greeting.interruptible = False
            self._playback.append(greeting)
        self._worker = asyncio.create_task(self._turn_worker())

    async def _fixed_utterance(self, text: str) -> Utterance:
        utterance = Utterance()
        utterance.add(text, await asyncio.to_thread(self.stages.cached_speech, text))
        utterance.generated = True
        return utterance

    def say(self, text: str, on_played: Any = None, answers: _Answering | None = None) -> None:
        """Queue a fixed line; it waits for the caller to finish. ``answers`` names the caller
        turn it answers, so that turn's response time is measured to this line."""
        self._spawn(self._queue_fixed(text, on_played, answers))

    async def _queue_fixed(
        self, text: str, on_played: Any = None, answers: _Answering | None = None
    ) -> Utterance:
        utterance = await self._fixed_utterance(text)
        utterance.on_played = on_played
        if answers is not None:
            utterance.timings, utterance.caller_turn_seq = answers
        if not self._closed:
            self._playback.append(utterance)
        return utterance

    def finish(self, goodbye: str, reason: str | None = None) -> None:
        """End the conversation with ``goodbye``: stop the reply under way, then say it.

        Whatever the caller says from here on is still transcribed and stored, but not
        answered. :attr:`finished` turns true once the goodbye has been played.
        """
        if self._ending:
            return
        self._ending = True
        self._goodbye_due = True
        self.end_reason = reason
        if self._generation is not None:
            self._generation.cancel()
        current = self._playback[0] if self._playback else None
        if current is not None and current.start_ms is not None:
            current.end_ms = self._now_ms
            self._keep(self._record_bot_turn(current, interrupted=not current.drained))
        self._playback.clear()
        self._spawn(self._queue_goodbye(goodbye))

    async def _queue_goodbye(self, text: str) -> None:
        self._goodbye = await self._queue_fixed(text)

    @property
    def finished(self) -> bool:
        return self._goodbye is not None and self._goodbye.end_ms is not None

    @property
    def speaking_greeting(self) -> bool:
        return bool(self._playback) and not self._playback[0].interruptible

    @property
    def speaking_reply(self) -> bool:
        """A reply's audio is playing now (not a pause waiting for synthesis)."""
        if not self._playback or self._paused:
            return False
        current = self._playback[0]
        return current.interruptible and current.start_ms is not None

    @property
    def caller_speaking(self) -> bool:
        return self.endpointer.in_speech

    def push_dtmf(self, digit: str) -> None:
        """A keypad digit from the caller (RFC 4733), kept on the call's record."""
        self.dtmf.append(digit)
        log.info("call %s: DTMF %s at %d ms", self.call_id, digit, self._now_ms)
        if self.store and self.call_id:
            self._keep(
                asyncio.to_thread(self.store.add_event, self.call_id, "dtmf", digit, self._now_ms)
            )
        if digit == self.config.handoff.dtmf and not self._ending:
            self._spawn(self._handoff("dtmf", interrupt=True))

    # -- handoff ---------------------------------------------------------------------------

    async def _handoff(
        self, reason: str, interrupt: bool = False, answers: _Answering | None = None
    ) -> None:
        """Transfer to a person, or take a message when that cannot be done."""
        if self.policy.handoff_started:
            return
        self.policy.handoff_started = True
        if interrupt:
            self._cut_reply()
        transfer = self.can_transfer and bool(self.config.handoff.uri)
        closed = transfer and not self.handoff_hours.open_at()
        # Outside the line's hours a transfer would ring an empty room: a message instead.
        transfer = transfer and not closed
        outcome = "transferring" if transfer else "after_hours" if closed else "message_offered"
        escalation = None
        if self.store and self.call_id:
            escalation = await asyncio.to_thread(
                self.store.add_escalation, self.call_id, self._now_ms, reason, outcome
            )
        log.info("call %s: escalation %s (%s)", self.call_id, reason, outcome)
        if transfer:
            self.say(
                self.language.lines.transferring,
                on_played=lambda: self._request_transfer(escalation),
                answers=answers,
            )
        else:
            self.policy.taking_message = True
            self.policy.handoff_started = False
            self.say(self.language.lines.take_message, answers=answers)

    def _request_transfer(self, escalation: int | None) -> None:
        if self.on_action is not None:
            self.on_action("transfer", escalation)

    def transfer_finished(self, escalation: int | None, ok: bool, detail: str = "") -> None:
        """The driver reports the transfer's outcome (SIP NOTIFY, or REFER refused)."""
        outcome = "transferred" if ok else "refer_failed"
        if self.store and self.call_id and escalation is not None:
            self._keep(asyncio.to_thread(self.store.update_escalation, escalation, outcome, detail))
        if ok:
            self._ending = True
            self.end_reason = "transferred"
            self._goodbye = Utterance(generated=True, end_ms=self._now_ms)
            return
        self.policy.handoff_started = False
        self.policy.taking_message = True
        self.say(self.language.lines.transfer_failed)

    @property
    def idle(self) -> bool:
        """Nothing heard that awaits a reply, nothing being said or about to be said."""
        return (
            not self.endpointer.in_speech
            and self._busy_turns == 0
            and self._pending_turns.empty()
            and not self._playback
            # A goodbye is being synthesized: it is about to be said.
            and not (self._goodbye_due and not self.finished)
        )

    async def close(self) -> None:
        """Stop all work; a reply cut off mid-way is stored with the text spoken so far.

        What the caller said last is kept even when they hang up mid-sentence: the open
        turn is closed and every pending turn is transcribed and stored (not answered).
        """
        if self._closed:
            return
        self._ending = True
        if self._generation is not None:
            self._generation.cancel()
        last = self.endpointer.flush(self._now_ms + FRAME_MS)
        if last is not None:
            self._on_turn_ended(last)
        deadline = time.perf_counter() + CLOSE_TRANSCRIBE_S
        while (self._busy_turns or not self._pending_turns.empty()) and (
            time.perf_counter() < deadline and self._worker is not None
        ):
            await asyncio.sleep(0.02)
        if self._carry is not None:
            carried, started = self._carry
            self._carry = None
            timings = TurnTimings(endpoint=0.0)
            event = TurnEnded(started, self._now_ms, self._now_ms, b"", forced=True)
            await self._record_caller_turn(redact(carried).text, event, timings)
        self._closed = True
        log.info("call %s: echo %s", self.call_id, self.echo.summary())
        if self._worker:
            self._worker.cancel()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            if self._worker:
                await self._worker
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        current = self._playback[0] if self._playback else None
        if current is not None and current.start_ms is not None:
            current.end_ms = self._now_ms
            await self._record_bot_turn(current, interrupted=True)
        self._playback.clear()
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- the tick interface (event loop thread; never blocks) ------------------------------

    def _bot_interruptible(self) -> bool:
        """A reply is playing or on its way, and caller speech may cut it."""
        return bool(self._playback) and self._playback[0].interruptible and not self._ending

    def push_caller_frame(self, frame: bytes, t_ms: int) -> None:
        self._now_ms = t_ms
        self._tick_wall = time.perf_counter()
        if self._judged_over() and (ended := self.endpointer.end_now(t_ms)) is not None:
            self._on_turn_ended(ended)  # no more waiting for the fallback silence
        heard = self.echo.clean(frame)  # the bot's own voice coming back is not the caller
        level = rms_dbfs(heard)
        bot_active = self._bot_interruptible()
        events = self.endpointer.push(heard, t_ms)
        if self.endpointer.last_voiced:
            self._turn_voiced += 1
            self._turn_echo_voiced += self.echo.echo_only
        speech = self.endpointer.last_voiced and level >= self.config.bargein.min_energy_dbfs
        action = self.bargein.push(speech, t_ms, bot_active)
        if action is not None:
            self._on_barge(action)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._turn_over_bot = bot_active
                self._turn_over_audio = self._sending_audio()
                self._turn_barged = False
                self._turn_voiced = self._turn_echo_voiced = 0
                self._warm_prompt()
            elif isinstance(event, SpeechPaused):
                self._on_pause(event)
            elif isinstance(event, TurnCheck) and self.judge is not None:
                self.judge.ask(event)
            elif isinstance(event, SpeechResumed):
                self._prefetch = None
                self._drop_speculation()
                if self.judge is not None:
                    self.judge.resumed()
            elif isinstance(event, TurnEnded):
                self._on_turn_ended(event)

    def _warm_prompt(self) -> None:
        """While the caller talks, the reply model evaluates the prompt up to their words:
        at the pause only the words are left to read, and the reply starts from there."""
        prefill = getattr(self.stages.llm, "prefill", None)
        if self.judge is None or self.judge.words is None or prefill is None:
            return
        self._spawn(asyncio.to_thread(prefill, self.writer.context_before(self._history)))

    def _judged_over(self) -> bool:
        """The early transcript, which the reply needs anyway, and what the reply model and
        the turn model make of the pause say the caller has finished (turn_judge.ends_turn)."""
        if self.judge is None or self._prefetch is None:
            return False
        early = self._prefetch[1]
        if not early.done() or early.cancelled() or early.exception() is not None:
            return False
        return self.judge.ends_turn(early.result().text, self.endpointer.silence_ms)

    def _on_pause(self, event: SpeechPaused) -> None:
        self._prefetch = (event, self._spawn_transcription(event.audio))
        words_read = None
        if self.judge is None:
            self._prefetch[1].add_done_callback(self._check_unfinished(event))
        else:
            context = self.writer.context_before(self._history)
            words_read = self.judge.ask_words(self._prefetch[1], context)
        if self._speculate and not self._turn_over_bot and not self._ending:
            timings = TurnTimings(speech_end_ms=float(event.speech_end_ms))
            spec = self._speculation = Speculation(event, self._prefetch[1], timings)
            spec.words_read = words_read
            spec.task = self._spawn(self._prepare(spec))

    def _drop_speculation(self) -> None:
        spec, self._speculation = self._speculation, None
        if spec is None:
            return
        tokens = spec.discard()
        if not spec.prepared:
            return  # only the early transcript had run, which any pause costs
        replies, spent = self._discarded
        self._discarded = (replies + 1, spent + tokens)
        log.info("call %s: prepared reply dropped, the caller went on", self.call_id)

    async def _prepare(self, spec: Speculation) -> None:
        """The reply to the words so far, generated into a held utterance (speculation.py)."""
        try:
            # Shielded: dropping the preparation must not cancel the transcript it shares.
            transcript = await asyncio.shield(spec.transcript)
            text = transcript.text.strip()
            held_back = self._carry is not None or self._ending or not has_words(text)
            if held_back or self.words.looks_unfinished(text):
                return  # the turn's end decides these, as without preparation
            policy = self.policy.fork()
            decision = policy.decide(text)
            if decision.action not in (Action.LLM, Action.SAY):
                return  # hand-offs, goodbyes and messages act on the real turn only
            spec.text, spec.decision, spec.policy = text, decision, policy
            spec.reply = Utterance(timings=spec.timings)
            history = self._history
            if decision.keep_in_history:
                said = decision.understood or text
                history = [*history, Message("user", redact(said).text)]
        finally:
            spec.decided.set()
        # One model: its reading of the words goes first (it may end the turn now), and the
        # reply's model part is then written from the prompt prefix it evaluated. Fixed
        # lines, grounded openings and acknowledgements need no model, so they never wait.
        await self.writer.write(spec.reply, spec.timings, decision, history, spec.words_read)

    def _check_unfinished(self, paused: SpeechPaused):
        """Once the early transcript is in: a sentence left hanging gets more time."""

        def check(future: asyncio.Future) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            still_paused = self._prefetch is not None and self._prefetch[0] is paused
            extra = self.config.vad.unfinished_extra_ms
            if still_paused and extra and self.words.looks_unfinished(future.result().text):
                self.endpointer.extend(extra)

        return check

    def _on_barge(self, action: BargeAction) -> None:
        barge = self.bargein.current
        if action is BargeAction.PAUSE:
            self._paused = True
            self._turn_barged = True
            self.barge_ins.append(barge)
            log.info(
                "call %s: barge-in, bot paused %d ms after onset", self.call_id, barge.latency_ms
            )
        elif action is BargeAction.RESUME:
            self._paused = False
            self._record_barge(barge)
        elif action is BargeAction.COMMIT:
            self._cut_reply(stopped_ms=barge.stopped_ms)
            self.bargein.reset()
            self._record_barge(barge)

    def _record_barge(self, barge: BargeIn | None) -> None:
        if barge is None or not (self.store and self.call_id):
            return
        detail = json.dumps(
            {
                "latency_ms": barge.latency_ms,
                "committed": barge.committed,
                "resumed_ms": barge.resumed_ms,
            }
        )
        self._keep(
            asyncio.to_thread(
                self.store.add_event, self.call_id, "barge_in", detail, barge.onset_ms
            )
        )

    def _cut_reply(self, stopped_ms: int | None = None) -> None:
        """Drop the reply being spoken or prepared; store what was heard of it."""
        self._paused = False
        if self._generation is not None:
            self._generation.cancel()
        current = self._playback[0] if self._playback else None
        if current is not None and current.start_ms is not None:
            current.end_ms = stopped_ms if stopped_ms is not None else self._now_ms
            self._keep(self._record_bot_turn(current, interrupted=not current.drained))
        self._playback.clear()

    def next_bot_frame(self, t_ms: int) -> bytes:
        frame = self._next_frame(t_ms)
        if not self._reports_sent:
            self.echo.played(frame)
        return frame

    def bot_frame_sent(self, frame: bytes) -> None:
        """A bot frame has gone out on the line: the echo canceller's reference."""
        self.echo.played(frame)

    def _next_frame(self, t_ms: int) -> bytes:
        self._now_ms = t_ms
        if self._paused:
            return SILENT_FRAME  # a possible interruption: hold the reply, lose nothing
        while self._playback:
            current = self._playback[0]
            if current.start_ms is None and self.endpointer.in_speech:
                return SILENT_FRAME  # never start talking over the caller
            frame = current.take_frame()
            if frame is not None:
                self._last_audio_ms = t_ms
                if current.start_ms is None:
                    current.start_ms = t_ms
                    self._on_first_audio(current, t_ms)
                return frame
            if current.drained and current.start_ms is not None:
                current.end_ms = t_ms
                self._playback.popleft()
                self._keep(self._record_bot_turn(current, interrupted=False))
                if current.on_played is not None:
                    current.on_played()
                continue
            if current.drained:  # generated nothing to say
                self._playback.popleft()
                continue
            return SILENT_FRAME  # synthesis has not caught up: a short natural pause
        return SILENT_FRAME

    # -- turn handling ---------------------------------------------------------------------

    def _keep(self, coro) -> asyncio.Task:
        """Run a store write: never cancelled, awaited by :meth:`close`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_transcription(self, audio: bytes) -> asyncio.Future:
        return asyncio.ensure_future(asyncio.to_thread(self.stages.transcriber.transcribe, audio))

    def _on_turn_ended(self, event: TurnEnded) -> None:
        prefetch, self._prefetch = self._prefetch, None
        reused = prefetch is not None and prefetch[0].ended(event)
        future = prefetch[1] if reused else self._spawn_transcription(event.audio)
        spec, self._speculation = self._speculation, None
        if spec is not None and not spec.paused.ended(event):
            self._speculation = spec
            self._drop_speculation()
            spec = None
        timings = TurnTimings(
            endpoint=float(event.endpoint_ms),
            stt_prefetched=reused,
            speech_end_ms=float(event.speech_end_ms),
        )
        if spec is not None:
            timings = spec.timings
            timings.endpoint, timings.stt_prefetched = float(event.endpoint_ms), True
        timings.discarded_replies, timings.discarded_tokens = self._discarded
        self._discarded = (0, 0)
        if self.judge is not None:
            timings.turn_checks, verdict, words = self.judge.turn_over()
            if verdict is not None:
                timings.turn_complete = round(verdict.complete, 3)
                timings.turn_model = verdict.elapsed_ms
            if words is not None:
                timings.turn_words, timings.turn_words_ms = round(words.end, 4), words.ms
                if words.finished is not None:
                    timings.turn_finished = round(words.finished, 3)
        self._busy_turns += 1
        cut_bot = bool(self.bargein.current and self.bargein.current.committed)
        over = Overlap(
            over_bot=self._turn_over_bot and not cut_bot,
            over_audio=self._turn_over_audio,
            cut_bot=cut_bot,
            echo_share=self._turn_echo_voiced / max(1, self._turn_voiced),
        )
        self._pending_turns.put_nowait((event, future, timings, spec, over))

    async def _turn_worker(self) -> None:
        while True:
            event, future, timings, spec, over = await self._pending_turns.get()
            try:
                await self._respond(event, future, timings, spec, over)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("call %s: turn failed", self.call_id)
            finally:
                self._busy_turns -= 1

    async def _caller_resumes(self, within_ms: int) -> bool:
        start = self._now_ms
        # After a hang-up the clock stops: waiting on would hold the turn past the close.
        while self._now_ms - start < within_ms and not self._ending:
            if self.endpointer.in_speech or not self._pending_turns.empty():
                return True
            await asyncio.sleep(FRAME_MS / 1000)
        return self.endpointer.in_speech or not self._pending_turns.empty()

    def _clock_ms(self) -> float:
        """The call-timeline position of 'now', between ticks, for stage timestamps.

        A caller frame pushed at tick t covers [t, t + 20 ms) and its events carry the frame's
        end, so the tick's own moment on the timeline is t + 20 ms.
        """
        return self._now_ms + FRAME_MS + (time.perf_counter() - self._tick_wall) * 1000

    async def _respond(
        self,
        event: TurnEnded,
        transcript_future: asyncio.Future,
        timings: TurnTimings,
        spec: Speculation | None = None,
        over: Overlap = Overlap(),
    ) -> None:
        try:
            await self._answer(event, transcript_future, timings, spec, over)
        finally:
            if spec is not None:
                spec.discard()  # a prepared reply left unused (or cut) stops its model

    async def _answer(
        self,
        event: TurnEnded,
        transcript_future: asyncio.Future,
        timings: TurnTimings,
        spec: Speculation | None,
        over: Overlap,
    ) -> None:
        transcript = await transcript_future
        timings.stt = max(0.0, self._clock_ms() - event.decided_ms)
        timings.stt_compute = transcript.elapsed_ms
        text = transcript.text.strip()
        heard_new = has_words(text)
        if not heard_new:
            log.info("call %s: turn at %d ms had no words", self.call_id, event.speech_start_ms)
            text = ""
        elif (
            over.over_audio
            and not self.language.rules.wants_human(text)
            and echo_residue(
                text,
                transcript,
                self._bot_words_near(event),
                over,
                event.speech_end_ms - event.speech_start_ms,
                self.words,
            )
        ):
            # The canceller lets a trace through while it re-learns a moving echo path (a
            # jitter buffer resizing); the bot's own words are never the caller's turn.
            log.info("call %s: the bot's own words came back, not a turn: %r", self.call_id, text)
            text = ""
        if not text and self._carry is None:
            return
        if self._carry is not None:
            # The caller's previous words stopped mid-sentence: this turn finishes them (or,
            # a cough or the bot's echo, leaves them to be answered as they were).
            carried, started = self._carry
            self._carry = None
            text = f"{carried} {text}".strip()
            event = dataclasses.replace(event, speech_start_ms=started)
        # The early transcript may not have been ready to extend the wait in time (a busy
        # CPU); wait now, and if the caller goes on, the two turns become one.
        extra = self.config.vad.unfinished_extra_ms
        hanging = (
            extra and not self._ending and not over.over_bot and self.words.looks_unfinished(text)
        )
        if hanging and await self._caller_resumes(extra):
            self._carry = (text, event.speech_start_ms)
            return
        short = event.speech_end_ms - event.speech_start_ms < self.config.bargein.confirm_ms
        if over.over_bot and (
            self.words.is_backchannel(text) or (short and not self.words.is_stop_request(text))
        ):
            # "mm-hm" while the bot talks: the caller is listening, not taking the turn.
            # Short over-talk counts as that too: Whisper often hears "mm-hm" as words.
            log.info("call %s: backchannel %r ignored", self.call_id, text)
            return
        greeting_left = self._playback[0].left_ms if self.speaking_greeting else 0
        if (
            greeting_left > GREETING_REPLY_LEAD_MS
            and not self._ending
            and await self._caller_resumes(greeting_left - GREETING_REPLY_LEAD_MS)
        ):
            # A pause between two sentences over the greeting ended the turn, and nothing
            # could have been said in it: the caller was not done, and the two turns are one.
            self._carry = (text, event.speech_start_ms)
            return
        if over.over_bot and not self._ending:
            self._cut_reply()  # a short but real interruption ("wait", "stop")
        if spec is not None:
            await spec.decided.wait()
            if not spec.prepared or spec.text != text or self._ending:
                spec.discard()
                spec = None
        if spec is not None:
            decision, self.policy = spec.decision, spec.policy
        else:
            decision = Decision(Action.LLM) if self._ending else self.policy.decide(text)
        if transcript.unsure and heard_new and not self._ending:
            asked_again = self.policy.unheard(decision)
            if asked_again is not decision:
                log.info("call %s: Whisper was guessing at %r", self.call_id, text)
                if spec is not None:
                    spec.discard()
                    spec = None
                decision = asked_again
        # The store redacts every turn; the model's context must not keep a secret either.
        stored_text = redact(text).text
        understood = redact(decision.understood).text if decision.understood else ""
        seq = await self._record_caller_turn(stored_text, event, timings, understood)
        if decision.keep_in_history:
            self._history.append(Message("user", understood or stored_text))
        if self._ending:
            return  # kept as feedback, but the goodbye is already on its way
        if decision.action is Action.MESSAGE and self.store and self.call_id:
            await asyncio.to_thread(self.store.add_callback_request, self.call_id, stored_text)
        if decision.action is Action.HANDOFF:
            await self._handoff(decision.reason, answers=(timings, seq))
            return
        if decision.action is Action.GOODBYE:
            self.finish(decision.reply, reason="caller_goodbye")
            return
        ruled = decision.reason and not decision.instead_of_model
        if ruled and decision.action is not Action.LLM:
            self._guardrail_event("caller", decision.reason)
        if decision.grounded and self.store and self.call_id:
            # The insights file no follow-up for a question the notes answered.
            self._keep(
                asyncio.to_thread(
                    self.store.add_event,
                    self.call_id,
                    ANSWERED_EVENT,
                    "",
                    event.speech_start_ms,
                )
            )
        if spec is not None:
            # Prepared during the pause: its audio, held until now, may play at once.
            reply, generation = spec.reply, spec.task
            reply.caller_turn_seq = seq
            timings.speculative = True
        else:
            reply = Utterance(timings=timings, caller_turn_seq=seq)
            # Generation is its own task so an ending can cancel it without losing this turn.
            generation = self._spawn(self.writer.write(reply, timings, decision, self._history))
        self._generation = generation
        self._playback.append(reply)
        try:
            await asyncio.wait({generation})
        finally:
            reply.generated = True
            self._generation = None
        if self.store and self.call_id and reply.timings is not None:
            # The first audio stored the timings so far; the model's end comes later.
            self._keep(
                asyncio.to_thread(
                    self.store.update_turn_timings, self.call_id, seq, timings.as_dict()
                )
            )
        if not generation.cancelled() and generation.exception() is not None:
            log.error("call %s: reply failed: %s", self.call_id, generation.exception())
        if reply.text and decision.keep_in_history:
            self._history.append(Message("assistant", reply.text))
        if reply.text == self.language.lines.fallback:
            offer = self.policy.fell_back()
            if offer is not None:
                self.say(offer.reply)

    def _sending_audio(self) -> bool:
        """The bot's audio is going out, or went out within an echo's delay."""
        return self._now_ms - self._last_audio_ms < ECHO_TAIL_MS

    def _bot_words_near(self, event: TurnEnded) -> str:
        """What the bot said around the caller's turn: its echo would be these words."""
        start = event.speech_start_ms - ECHO_TAIL_MS
        said = [t.text for t in self.turns if t.role == "bot" and t.end_ms >= start]
        said += [u.text for u in self._playback if u.start_ms is not None]
        return " ".join(said)

    def _guardrail_event(self, side: str, category: str) -> None:
        log.info("call %s: guardrail %s %s", self.call_id, side, category)
        if self.store and self.call_id:
            self._keep(
                asyncio.to_thread(
                    self.store.add_event,
                    self.call_id,
                    f"guardrail_{side}",
                    category,
                    self._now_ms,
                )
            )

    # -- bookkeeping -----------------------------------------------------------------------

    def _on_first_audio(self, utterance: Utterance, t_ms: int) -> None:
        if utterance.timings is None:
            return
        if utterance.timings.speech_end_ms is not None:
            utterance.timings.response = float(t_ms - utterance.timings.speech_end_ms)
        if self.store and self.call_id and utterance.caller_turn_seq is not None:
            # The caller's row was committed when the turn ended; its response time is
            # only known now, at the first bot sample.
            self._keep(
                asyncio.to_thread(
                    self.store.update_turn_timings,
                    self.call_id,
                    utterance.caller_turn_seq,
                    utterance.timings.as_dict(),
                )
            )

    async def _record_caller_turn(
        self, text: str, event: TurnEnded, timings: TurnTimings, understood: str = ""
    ) -> int | None:
        self.turns.append(
            TurnResult(
                "caller", text, event.speech_start_ms, event.speech_end_ms, timings, understood
            )
        )
        if not (self.store and self.call_id):
            return None
        return await asyncio.to_thread(
            self.store.add_turn,
            self.call_id,
            TurnRecord(
                "caller",
                text,
                event.speech_start_ms,
                event.speech_end_ms,
                timings.as_dict(),
                understood=understood,
            ),
        )

    async def _record_bot_turn(self, utterance: Utterance, interrupted: bool) -> None:
        start = utterance.start_ms or 0
        end = utterance.end_ms if utterance.end_ms is not None else start
        text = utterance.spoken_text if interrupted else utterance.text
        result = TurnResult("bot", text, start, end)
        self.turns.append(result)
        if self.store and self.call_id:
            await asyncio.to_thread(
                self.store.add_turn,
                self.call_id,
                TurnRecord("bot", text, start, end, result.timings_ms, interrupted=interrupted),
            )


def _turn_taking(stages: Stages, streaming: bool) -> tuple[Endpointer, TurnJudge | None]:
    """The endpointer and, with [turn] detector = "smart-turn", the judge that may end a turn
    before its fallback silence. The naive baseline keeps the fixed window, unprefetched."""
    config = stages.config
    model = getattr(stages, "turn_model", None)
    if not streaming:
        return Endpointer(config.vad), None
    if config.turn.detector == "silence" or model is None:
        return Endpointer(config.vad, prefetch_ms=config.stt.prefetch_ms), None
    endpointer = Endpointer(
        config.vad,
        prefetch_ms=config.turn.pause_ms,
        end_ms=config.turn.fallback_ms,
        check_every_ms=config.turn.recheck_ms,
    )
    # The reply model reads words only in a language it speaks; elsewhere the turn model and
    # the fallback silence decide.
    reads = getattr(stages, "model_replies", True)
    return endpointer, TurnJudge(
        model,
        config.turn,
        getattr(stages.llm, "read_end", None) if reads else None,
        getattr(stages, "turn_reader", None) if reads else None,
        getattr(stages, "language", None) or ENGLISH,
    )
