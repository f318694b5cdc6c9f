"""One SIP call on the asyncio side: its conversation, its clock and its record.

The SIP thread reports what happens to the call (answered, DTMF, disconnected) through
``loop.call_soon_threadsafe``; the session asks the SIP thread to hang up through a callback.
Media time advances one 20 ms step per caller frame the bridge delivered, so the
conversation's timeline is the call's own clock, not the event loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ceoline.sip.events import log_event
from ceoline.sip.media import FramePipe
from ceoline.store import Store, caller_address
from ceoline.voice.audio import FRAME_MS
from ceoline.voice.conversation import Conversation, Stages, line_name
from ceoline.voice.lifecycle import CallLifecycle

log = logging.getLogger(__name__)

# How often the session looks for new caller frames; the bridge delivers one per 20 ms.
POLL_S = 0.01


@dataclass(frozen=True)
class IncomingCall:
    sip_call_id: str
    caller_uri: str
    source: str


class CallSession:
    def __init__(
        self,
        stages: Stages,
        store: Store,
        incoming: IncomingCall,
        pipe: FramePipe,
        hangup: Callable[[str], None],
        transfer: Callable[[int | None], None] | None = None,
    ):
        self.stages = stages
        self.store = store
        self.incoming = incoming
        self.pipe = pipe
        self._hangup: Callable[[str], None] | None = hangup
        self._transfer = transfer
        self.call_id: str | None = None
        self.conversation: Conversation | None = None
        self.codec: str | None = None
        self.end_reason: str | None = None
        self._hangup_reason: str | None = None
        self._answered = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._shutdown = False
        self._answered_at: float | None = None
        self._pending_dtmf: list[str] = []
        self.max_backlog_frames = 0

    # -- reports from the SIP thread (run on the loop) -------------------------------------

    def on_answered(self, codec: str) -> None:
        """We sent 200 OK and media is negotiated."""
        self.codec = codec
        self._answered_at = time.monotonic()
        self._answered.set()

    def on_confirmed(self) -> None:
        """The caller acknowledged (ACK): the conversation may start."""
        self._confirmed.set()

    def on_dtmf(self, digit: str) -> None:
        log_event("call.dtmf", call=self.call_id, digit=digit)
        if self.conversation is not None:
            self.conversation.push_dtmf(digit)
        else:
            self._pending_dtmf.append(digit)

    def on_disconnected(self, reason: str, status: int) -> None:
        self.end_reason = self._hangup_reason or reason
        self._disconnected.set()

    def on_transfer_result(self, escalation: int | None, ok: bool, detail: str) -> None:
        log_event(
            "call.transferred" if ok else "call.transfer_failed", call=self.call_id, detail=detail
        )
        if self.conversation is not None:
            self.conversation.transfer_finished(escalation, ok, detail)

    def _on_conversation_action(self, action: str, escalation: int | None) -> None:
        if action == "transfer" and self._transfer is not None:
            self._transfer(escalation)

    def request_shutdown(self) -> None:
        self._shutdown = True
        if not self._confirmed.is_set():
            self._request_hangup("shutdown")

    def _request_hangup(self, reason: str) -> None:
        if self._hangup_reason is None and self._hangup is not None:
            self._hangup_reason = reason
            self._hangup(reason)

    # -- the call ---------------------------------------------------------------------------

    async def run(self) -> None:
        incoming = self.incoming
        self.call_id = await asyncio.to_thread(
            self.store.create_call,
            "sip",
            caller_address(incoming.caller_uri),
            self.stages.persona.name,
            sip_call_id=incoming.sip_call_id,
            caller_uri=incoming.caller_uri,
            line=line_name(self.stages),
            language=self.stages.persona.language,
        )
        log_event(
            "call.incoming",
            call=self.call_id,
            line=line_name(self.stages),
            sip_call_id=incoming.sip_call_id,
            caller=incoming.caller_uri,
            source=incoming.source,
        )
        try:
            await self._wait_first(self._answered, self._disconnected)
            if self._answered.is_set():
                await asyncio.to_thread(self.store.mark_answered, self.call_id, self.codec or "")
                log_event("call.answered", call=self.call_id, codec=self.codec)
                await self._wait_first(self._confirmed, self._disconnected)
            if self._confirmed.is_set() and not self._disconnected.is_set():
                await self._converse()
        finally:
            await self._close()

    async def _converse(self) -> None:
        config = self.stages.config
        conversation = Conversation(self.stages, self.store, self.call_id, reports_sent=True)
        conversation.can_transfer = self._transfer is not None and bool(config.handoff.uri)
        conversation.on_action = self._on_conversation_action
        self.conversation = conversation
        lifecycle = CallLifecycle(
            conversation, config.call, self.stages.persona, conversation.language
        )
        await conversation.start()
        for digit in self._pending_dtmf:
            conversation.push_dtmf(digit)
        media_ms = 0
        try:
            while not self._disconnected.is_set():
                if self._shutdown:
                    lifecycle.end("shutdown")
                inbound = self.pipe.take_inbound()
                sent = self.pipe.take_sent()
                # Frames that waited for the loop: how late the conversation heard the caller.
                self.max_backlog_frames = max(self.max_backlog_frames, len(inbound))
                for k, frame in enumerate(inbound):
                    # The bridge's clock sends one frame per frame it receives: pairing them
                    # keeps the echo's delay steady however the loop's wake-ups batch them.
                    if k < len(sent):
                        conversation.bot_frame_sent(sent[k])
                    conversation.push_caller_frame(frame, media_ms)
                    self.pipe.outbound.append(conversation.next_bot_frame(media_ms))
                    ended = lifecycle.tick(media_ms)
                    media_ms += FRAME_MS
                    if ended is not None:
                        self._request_hangup(ended)
                for frame in sent[len(inbound) :]:
                    conversation.bot_frame_sent(frame)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._disconnected.wait(), POLL_S)
        finally:
            await conversation.close()

    async def _close(self) -> None:
        # These refer to the pjsua2 call, which must not outlive the SIP side.
        self._hangup = None
        self._transfer = None
        reason = self.end_reason or self._hangup_reason or "error"
        self.end_reason = reason
        duration = time.monotonic() - self._answered_at if self._answered_at else 0.0
        if self.call_id is not None:
            try:
                await asyncio.to_thread(self.store.end_call, self.call_id, reason, duration)
            except Exception:
                log.exception("call %s: could not store its end", self.call_id)
        log_event(
            "call.ended",
            call=self.call_id,
            reason=reason,
            duration_s=round(duration, 3),
            frames_in=self.pipe.received,
            frames_out=self.pipe.played,
            underruns=self.pipe.underruns,
            max_backlog_ms=self.max_backlog_frames * FRAME_MS,
        )

    @staticmethod
    async def _wait_first(*events: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
