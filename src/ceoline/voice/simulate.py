"""Simulated calls: a caller made of audio, paced in real time like a phone leg.

Every 20 ms tick the driver hands the conversation one caller frame and takes one bot frame,
so the bot's side is written on the caller's timeline and the latencies are those a caller
would hear. Ticks are scheduled against absolute deadlines; a late tick catches up instead of
drifting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from ceoline.store import Store
from ceoline.voice.audio import FRAME_MS, SILENT_FRAME, frames
from ceoline.voice.conversation import Conversation, Stages, TurnResult, line_name
from ceoline.voice.lifecycle import CallLifecycle

log = logging.getLogger(__name__)


class CallerSource:
    """Supplies caller frames; returns None from :meth:`next_frame` to hang up."""

    hangup_reason = "caller_hangup"

    def next_frame(self, conversation: Conversation, t_ms: int) -> bytes | None:
        raise NotImplementedError

    def hear(self, frame: bytes) -> None:
        """The bot's frame for this tick, as it reaches the caller's ear."""


class WavCaller(CallerSource):
    """Plays a fixed recording, then stays on the line until the bot has answered."""

    def __init__(self, pcm: np.ndarray, reply_wait_s: float):
        self._frames = frames(pcm) if len(pcm) else []
        self._index = 0
        self._reply_wait_ms = reply_wait_s * 1000
        self._finished_at: int | None = None

    def next_frame(self, conversation: Conversation, t_ms: int) -> bytes | None:
        if self._index < len(self._frames):
            self._index += 1
            return self._frames[self._index - 1]
        if self._finished_at is None:
            self._finished_at = t_ms
        if conversation.idle:
            return None
        if t_ms - self._finished_at > self._reply_wait_ms:
            self.hangup_reason = "caller_gave_up"
            return None
        return SILENT_FRAME


class ScriptedCaller(CallerSource):
    """Says each prompt once the bot has finished talking and a short pause has passed,
    the way a polite caller takes turns. Used by the benchmark."""

    def __init__(self, prompts: list[np.ndarray], pause_ms: int = 600, reply_wait_s: float = 60):
        self._prompts = [frames(p) for p in prompts]
        self._pause_ms = pause_ms
        self._reply_wait_ms = reply_wait_s * 1000
        self._current: list[bytes] = []
        self._quiet_since: int | None = None
        self._waiting_since: int | None = None

    def next_frame(self, conversation: Conversation, t_ms: int) -> bytes | None:
        if self._current:
            return self._current.pop(0)
        if not conversation.idle:
            self._quiet_since = None
            if self._waiting_since is not None and t_ms - self._waiting_since > self._reply_wait_ms:
                self.hangup_reason = "caller_gave_up"
                return None
            return SILENT_FRAME
        self._waiting_since = None
        if self._quiet_since is None:
            self._quiet_since = t_ms
        if t_ms - self._quiet_since < self._pause_ms:
            return SILENT_FRAME
        if not self._prompts:
            return None
        self._current = self._prompts.pop(0)
        self._quiet_since = None
        self._waiting_since = t_ms + len(self._current) * FRAME_MS
        return self._current.pop(0)


class InterruptingCaller(CallerSource):
    """Asks a question, then talks over the answer ``after_ms`` into it, then waits."""

    def __init__(
        self,
        question: np.ndarray,
        interruption: np.ndarray,
        after_ms: int,
        reply_wait_s: float = 30,
        linger_ms: int | None = None,
    ):
        self._question = frames(question)
        self._interruption = frames(interruption)
        self._after_ms = after_ms
        self._reply_wait_ms = reply_wait_s * 1000
        self._reply_heard_at: int | None = None
        self._done_at: int | None = None
        self._asked = False
        self.interrupted_at: int | None = None  # call time the interruption's audio began
        # Hang up this long after the interruption, answered or not (None: wait for idle).
        self._linger_ms = linger_ms

    def next_frame(self, conversation: Conversation, t_ms: int) -> bytes | None:
        if self._question:
            if not conversation.speaking_greeting:
                return self._question.pop(0)
            return SILENT_FRAME
        if self._reply_heard_at is None:
            if conversation.speaking_reply:
                self._reply_heard_at = t_ms
            return SILENT_FRAME
        if t_ms - self._reply_heard_at < self._after_ms:
            return SILENT_FRAME
        if self._interruption:
            if self.interrupted_at is None:
                self.interrupted_at = t_ms
            return self._interruption.pop(0)
        if self._done_at is None:
            self._done_at = t_ms
        if conversation.idle or t_ms - self._done_at > self._reply_wait_ms:
            return None
        if self._linger_ms is not None and t_ms - self._done_at > self._linger_ms:
            return None
        return SILENT_FRAME


class EchoingLine(CallerSource):
    """A phone line that returns the bot's voice to it, delayed and attenuated (echo)."""

    def __init__(self, caller: CallerSource, delay_ms: int = 120, gain_db: float = -15.0):
        self.caller = caller
        self._gain = 10 ** (gain_db / 20)
        self._delay: list[bytes] = [SILENT_FRAME] * max(1, delay_ms // FRAME_MS)

    @property
    def hangup_reason(self) -> str:  # type: ignore[override]
        return self.caller.hangup_reason

    def hear(self, frame: bytes) -> None:
        self._delay.append(frame)
        self.caller.hear(frame)

    def next_frame(self, conversation: Conversation, t_ms: int) -> bytes | None:
        own = self.caller.next_frame(conversation, t_ms)
        if own is None:
            return None
        echo = np.frombuffer(self._delay.pop(0), dtype=np.int16).astype(np.float32)
        mixed = np.frombuffer(own, dtype=np.int16).astype(np.float32) + echo * self._gain
        return np.clip(mixed, -32768, 32767).astype(np.int16).tobytes()


@dataclass
class CallResult:
    call_id: str | None
    turns: list[TurnResult]
    bot_pcm: np.ndarray
    duration_s: float
    end_reason: str
    late_ticks: int = 0

    def as_json(self) -> dict:
        return {
            "call_id": self.call_id,
            "end_reason": self.end_reason,
            "duration_s": round(self.duration_s, 3),
            "turns": [
                {
                    "role": t.role,
                    "text": t.text,
                    **({"understood": t.understood} if t.understood else {}),
                    "start_ms": t.start_ms,
                    "end_ms": t.end_ms,
                    "timings_ms": t.timings_ms,
                }
                for t in self.turns
            ],
        }


async def run_call(
    stages: Stages,
    caller: CallerSource,
    store: Store | None,
    *,
    source: str = "simulated",
    caller_label: str = "",
    streaming: bool = True,
    greet: bool = True,
) -> CallResult:
    """Run one call to its end and store it; the call row is closed whatever happens."""
    config = stages.config
    call_id = None
    if store is not None:
        call_id = await asyncio.to_thread(
            store.create_call,
            source,
            caller_label,
            stages.persona.name,
            line=line_name(stages),
            language=stages.persona.language,
        )
    conversation = Conversation(stages, store, call_id, streaming=streaming, greet=greet)
    lifecycle = CallLifecycle(conversation, config.call, stages.persona, conversation.language)
    out: list[bytes] = []
    end_reason = "error"
    tick = 0
    late_ticks = 0
    try:
        await conversation.start()
        origin = time.perf_counter()
        while True:
            t_ms = tick * FRAME_MS
            frame = caller.next_frame(conversation, t_ms)
            if frame is None:
                end_reason = caller.hangup_reason
                break
            conversation.push_caller_frame(frame, t_ms)
            bot_frame = conversation.next_bot_frame(t_ms)
            out.append(bot_frame)
            caller.hear(bot_frame)
            tick += 1
            ended = lifecycle.tick(t_ms)
            if ended is not None:
                end_reason = ended
                break
            delay = origin + tick * FRAME_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late_ticks += 1
                await asyncio.sleep(0)  # let finished stage results land before catching up
    except asyncio.CancelledError:
        end_reason = "cancelled"
        raise
    finally:
        await conversation.close()
        duration_s = tick * FRAME_MS / 1000
        if store is not None and call_id is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.end_call, call_id, end_reason, duration_s)
    pcm = np.frombuffer(b"".join(out), dtype=np.int16) if out else np.zeros(0, np.int16)
    # Late ticks mean the event loop was starved: the caller would have heard jitter.
    log.info(
        "call %s ended: %s after %.1f s (%d late ticks)",
        call_id,
        end_reason,
        duration_s,
        late_ticks,
    )
    return CallResult(call_id, conversation.turns, pcm, duration_s, end_reason, late_ticks)
