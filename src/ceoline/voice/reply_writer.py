"""One reply, written into an :class:`Utterance` piece by piece: a fixed line, a company
answer from the notes with checked model sentences after it, or a streamed model reply
checked by the bot-side guardrails before each piece is synthesized, opening with the
persona's acknowledgement when the caller's words are feedback.

The writer owns no call state. The conversation hands it the history to answer and the
notes check for the turn, and gets told about guardrail hits through a callback; the model
runs in a worker thread and stops at its next token once the reply is cut or the call ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ceoline.errors import ModelUnavailable
from ceoline.trust import guardrails
from ceoline.trust.answers import may_follow
from ceoline.trust.dialogue import Action, Decision
from ceoline.trust.grounding import NotesCheck, question_with_notes, split_sentences
from ceoline.trust.languages import ENGLISH, Language
from ceoline.voice.chunker import Chunker, Sentences, clean_for_speech, ends_sentence
from ceoline.voice.llm import Message
from ceoline.voice.timings import TurnTimings
from ceoline.voice.utterance import Utterance

log = logging.getLogger(__name__)


class ReplyWriter:
    def __init__(
        self,
        stages: Any,
        call_id: str | None,
        *,
        streaming: bool,
        system: Message,
        clock: Callable[[], float],
        stopped: Callable[[], bool],
        spawn: Callable[[Any], asyncio.Task],
        on_guardrail: Callable[[str, str], None],
        notes_check: Callable[[], NotesCheck],
        language: Language = ENGLISH,
    ):
        """``clock``: the call timeline's now in ms; ``stopped``: the call is ending;
        ``notes_check``: the notes check a grounded answer is held to; ``language``: the
        line's, for the lines said when the model gives nothing."""
        self.stages = stages
        self.config = stages.config
        self.call_id = call_id
        self.streaming = streaming
        self._system = system
        self._clock = clock
        self._stopped = stopped
        self._spawn = spawn
        self._on_guardrail = on_guardrail
        self.notes_check = notes_check
        self.language = language

    async def write(
        self,
        reply: Utterance,
        timings: TurnTimings,
        decision: Decision,
        history: list[Message],
        model_free: asyncio.Future | None = None,
    ) -> None:
        """``history`` ends with the caller's turn being answered (when it is kept at all).
        ``model_free``: done once the model may start on the reply (it is reading the
        caller's words for the turn judge until then); what needs no model goes ahead."""
        if decision.action is Action.SAY or decision.action is Action.MESSAGE:
            await self._speak(reply, decision.reply, timings, fixed=True)
        elif decision.grounded:
            await self._generate_grounded(reply, timings, decision, history, model_free)
        elif self.streaming:
            messages = self._messages(history, decision.notes)
            if decision.opening:
                # From cached audio, before the model starts: the caller hears it at once.
                await self._speak(reply, decision.opening, timings, fixed=True)
            await self._generate_streaming(reply, timings, messages, decision.opening, model_free)
        else:
            await self._generate_sequential(reply, timings, self._messages(history))
        if not reply.text:
            # When the reply model cannot be reached at all, asking the caller to repeat
            # would not help: what they said is kept, and they are told so.
            said = self.language.lines
            line = said.noted if timings.model_unavailable else said.fallback
            pcm = await asyncio.to_thread(self.stages.cached_speech, line)
            reply.add(line, pcm)

    async def _generate_grounded(
        self,
        reply: Utterance,
        timings: TurnTimings,
        decision: Decision,
        history: list[Message],
        model_free: asyncio.Future | None = None,
    ) -> None:
        """A question the notes answer: their best sentence is spoken at once, and the model
        may add to it, sentence by sentence, each held to the notes before it is spoken.

        The opening is cut into pieces like any reply, so the first clause is synthesized
        while the rest waits; the model starts once that first piece is ready, so it never
        delays the first audio on a small CPU.
        """
        check = self.notes_check()
        question = history[-1].content if history else ""
        messages = self._messages(history, decision.notes)
        chunker = Chunker(self.config.chunker)
        pieces = [*chunker.feed(decision.opening), *chunker.flush()]
        stop = threading.Event()
        try:
            await self._add_to_opening(
                reply, timings, (decision, messages, model_free), pieces, check, question, stop
            )
        finally:
            stop.set()  # a cut reply (barge-in, hang-up) stops the model at its next token

    async def _add_to_opening(
        self,
        reply: Utterance,
        timings: TurnTimings,
        answer: tuple[Decision, list[Message], asyncio.Future | None],
        pieces: list[str],
        check: NotesCheck,
        question: str,
        stop: threading.Event,
    ) -> None:
        decision, messages, model_free = answer
        queue = None
        for piece in pieces:
            await self._speak(reply, piece, timings, fixed=True)
            if queue is None:
                queue = self._start_llm(timings, stop, messages, model_free=model_free)
        if queue is None:
            return
        said = len(split_sentences((decision.opening,)))
        dropped = 0
        sentences = Sentences(self.config.chunker)
        while (delta := await queue.get()) is not None:
            if isinstance(delta, Exception):
                log.error("call %s: generation failed: %s", self.call_id, delta)
                continue
            if stop.is_set():
                continue
            for sentence in sentences.feed(delta):
                if self._adds_a_supported_fact(check, sentence, reply.text, question):
                    await self._speak(reply, sentence, timings)
                    said += 1
                else:
                    dropped += 1
                if said >= self.config.llm.max_sentences:
                    stop.set()
                    break
        timings.dropped_sentences = dropped
        if dropped:
            self._on_guardrail("bot", "ungrounded")

    def _adds_a_supported_fact(
        self, check: NotesCheck, sentence: str, spoken: str, question: str
    ) -> bool:
        ok, why = may_follow(check, sentence, spoken, question)
        if not ok:
            log.info("call %s: model sentence %r dropped (%s)", self.call_id, sentence, why)
        return ok

    def context_before(self, history: list[Message]) -> list[Message]:
        """What precedes the caller's next message in the prompt its reply is written from
        (see ``_messages``), for reading the caller's words with the same prompt prefix."""
        keep = self.config.llm.history_turns * 2
        return [self._system, *(history[-(keep - 1) :] if keep > 1 else [])]

    def _messages(self, history: list[Message], notes: tuple[str, ...] = ()) -> list[Message]:
        keep = self.config.llm.history_turns * 2
        recent = history[-keep:] if keep else history[-1:]
        if notes and recent and recent[-1].role == "user":
            # Notes ride with the question, after the unchanged system prompt, so the
            # prompt's cached prefix stays valid.
            recent = [*recent[:-1], Message("user", question_with_notes(recent[-1].content, notes))]
        return [self._system, *recent]

    async def _whole_reply(self, timings: TurnTimings, messages: list[Message]) -> str:
        queue = self._start_llm(timings, threading.Event(), messages)
        parts = []
        while (delta := await queue.get()) is not None:
            if not isinstance(delta, Exception):
                parts.append(delta)
        return "".join(parts)

    def _checked(self, text: str) -> tuple[str, bool]:
        """``text``, or the safe line that replaces it when it breaks a bot-side rule."""
        violation = guardrails.check_bot(text)
        if violation is None:
            return text, False
        # Never spoken: the model's line is replaced and the reply ends there.
        self._on_guardrail("bot", violation.category)
        return violation.replacement, True

    def _start_llm(
        self,
        timings: TurnTimings,
        stop: threading.Event,
        messages: list[Message],
        reply_start: str = "",
        model_free: asyncio.Future | None = None,
    ) -> asyncio.Queue:
        """Run generation in a thread once ``model_free`` is done; deltas arrive on the
        returned queue, then None. ``reply_start``: what the reply has already said, for the
        model to go on from."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def cancelled() -> bool:
            return self._stopped() or stop.is_set()

        def produce(started: float) -> None:
            first = True
            try:
                deltas = self.stages.llm.stream(
                    messages, cancelled=cancelled, reply_start=reply_start
                )
                for delta in deltas:
                    if first:
                        timings.llm_first_token = self._clock() - started
                        first = False
                    timings.reply_tokens += 1
                    loop.call_soon_threadsafe(queue.put_nowait, delta)
            except Exception as exc:  # surfaced to the consumer, which logs it
                if isinstance(exc, ModelUnavailable):
                    timings.model_unavailable = True
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                done = self._clock()
                timings.llm_total = done - started
                if timings.speech_end_ms is not None:
                    timings.llm_done = done - timings.speech_end_ms
                loop.call_soon_threadsafe(queue.put_nowait, None)

        async def run() -> None:
            if model_free is not None:
                # Shielded: a cut reply must not cancel the reading the turn judge awaits.
                await asyncio.shield(model_free)
                if cancelled():
                    # Cut while it waited (the caller went on): the model never starts.
                    queue.put_nowait(None)
                    return
            await asyncio.to_thread(produce, self._clock())

        self._spawn(run())
        return queue

    async def _speak(
        self, reply: Utterance, text: str, timings: TurnTimings, fixed: bool = False
    ) -> None:
        """``fixed``: the text is one of a bounded set (a fixed line, a sentence of the notes),
        so its audio is synthesized once per process and reused."""
        spoken = clean_for_speech(text)
        if not spoken:
            return
        started = time.perf_counter()
        if fixed:
            pcm = await asyncio.to_thread(self.stages.cached_speech, spoken)
        else:
            pcm = (await asyncio.to_thread(self.stages.synthesizer.synthesize, spoken)).pcm
        if timings.tts_first_audio is None:
            timings.tts_first_audio = (time.perf_counter() - started) * 1000
        reply.add(spoken, pcm)

    async def _generate_streaming(
        self,
        reply: Utterance,
        timings: TurnTimings,
        messages: list[Message],
        opening: str = "",
        model_free: asyncio.Future | None = None,
    ) -> None:
        stop = threading.Event()
        try:
            await self._stream_reply(reply, timings, messages, stop, (opening, model_free))
        finally:
            stop.set()  # a cut reply (barge-in, hang-up) stops the model at its next token

    async def _stream_reply(
        self,
        reply: Utterance,
        timings: TurnTimings,
        messages: list[Message],
        stop: threading.Event,
        start: tuple[str, asyncio.Future | None] = ("", None),
    ) -> None:
        """``start``: what the reply opened with, and when the model is free to go on."""
        queue = self._start_llm(timings, stop, messages, *start)
        chunker = Chunker(self.config.chunker)
        sentences = 0
        while (delta := await queue.get()) is not None:
            if isinstance(delta, Exception):
                log.error("call %s: generation failed: %s", self.call_id, delta)
                continue
            if stop.is_set():
                continue  # drain what the model produced before it saw the stop
            for piece in chunker.feed(delta):
                piece, replaced = self._checked(piece)
                await self._speak(reply, piece, timings)
                if replaced:
                    stop.set()
                    break
                sentences += ends_sentence(piece)
                if sentences >= self.config.llm.max_sentences:
                    stop.set()
                    break
        if not stop.is_set():
            for piece in chunker.flush():
                piece, replaced = self._checked(piece)
                if replaced:
                    await self._speak(reply, piece, timings)
                    break
                if ends_sentence(piece) or not reply.text or not self._hit_token_limit(timings):
                    await self._speak(reply, piece, timings)

    async def _generate_sequential(
        self, reply: Utterance, timings: TurnTimings, messages: list[Message]
    ) -> None:
        text, _ = self._checked(await self._whole_reply(timings, messages))
        await self._speak(reply, text, timings)

    def _hit_token_limit(self, timings: TurnTimings) -> bool:
        return timings.reply_tokens >= self.config.llm.max_reply_tokens
