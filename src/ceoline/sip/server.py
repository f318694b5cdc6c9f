"""`ceoline serve`: a pjsua2 user agent that answers calls with the voice loop.

Threads, and what each may do:

* **SIP thread** (the one that calls :meth:`Server.serve_forever`): polls pjsip, runs every
  SIP callback and every pjsua2 API call. Nothing else touches pjsua2 objects.
* **pjmedia clock thread**: calls :class:`CallAudioPort` every 20 ms; only moves bytes.
* **call loop** (asyncio, one thread): one :class:`CallSession` per call; inference runs in
  its worker threads. It asks the SIP thread for hang-ups through :meth:`Server.post`.

Models load once, before the first call, and are shared; each call has its own conversation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pjsua2 as pj

from ceoline.config import Config
from ceoline.errors import SipError
from ceoline.insights.worker import InsightsWorker
from ceoline.lines import request_uri, user_part
from ceoline.retention import DailyPurge
from ceoline.sip.allowlist import Allowlist
from ceoline.sip.endpoint import (
    Listening,
    PjLogWriter,
    account_config,
    create_transports,
    endpoint_config,
    pj_error,
    quiet_pjlib,
    set_codecs,
)
from ceoline.sip.events import log_event
from ceoline.sip.guard import RequestGuard, pjsua_library
from ceoline.sip.media import CallAudioPort, FramePipe, delete_port
from ceoline.sip.session import CallSession, IncomingCall
from ceoline.sip.transactions import terminate_unacknowledged
from ceoline.store import Store
from ceoline.webhooks import events as webhook_events
from ceoline.webhooks.deliverer import Deliverer

if TYPE_CHECKING:
    from ceoline.engines import Engines

log = logging.getLogger(__name__)

POLL_MS = 10
# After the last hang-up, how long pjsip gets to finish the BYE transactions.
DRAIN_S = 3.0


class InboundCall(pj.Call):
    def __init__(self, account: pj.Account, call_id: int, server: Server):
        super().__init__(account, call_id)
        self.server = server
        self.pj_id = call_id
        self.session: CallSession | None = None
        self.pipe: FramePipe | None = None
        self.port: CallAudioPort | None = None
        self.media_up = False
        self.confirmed = False
        self.answered = False
        self.hanging_up = False
        self.transfer_escalation: int | None = None
        self.transferring = False
        # When our 200 OK went out; the caller's ACK must follow within [sip] ack_wait_s.
        self.answered_ok_at: float | None = None
        self.sip_call_id = ""

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self.server._on_call_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.server._on_media_state(self)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.server._on_dtmf(self, prm.digit)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        self.server._on_transfer_status(self, prm)


class HotlineAccount(pj.Account):
    def __init__(self, server: Server):
        super().__init__()
        self.server = server

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.server._on_incoming(self, prm)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        level = logging.INFO if prm.code // 100 == 2 else logging.WARNING
        log_event("sip.registration", level, status=prm.code, reason=prm.reason)


class Server:
    def __init__(self, config: Config, engines: Engines, store: Store):
        self.config = config
        self.sip = config.sip
        self.engines = engines
        self.switchboard = engines.switchboard
        self.store = store
        self.allowlist = Allowlist(self.sip.allow)
        self.calls: dict[int, InboundCall] = {}
        self.completed = 0
        self._posted: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._answer_at: list[tuple[float, InboundCall]] = []
        self._futures: set[concurrent.futures.Future] = set()
        self._stop_requested = 0
        self._stopping_since: float | None = None
        self.ep: pj.Endpoint | None = None
        self.account: HotlineAccount | None = None
        self.guard: RequestGuard | None = None
        self.insights: InsightsWorker | None = None
        self.deliverer: Deliverer | None = None
        self.retention: DailyPurge | None = None
        self.metrics = None
        self._refused = {403: 0, 404: 0, 503: 0}
        self._dashboard = None
        self._ports: list[CallAudioPort] = []
        self._port_count = 0
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self.loop.run_forever, name="ceoline-calls", daemon=True
        )

    # -- start-up ---------------------------------------------------------------------------

    def start(self) -> Listening:
        if self.config.metrics.enabled:
            self._start_metrics()
        crashed = self.store.close_crashed_calls()
        if crashed:
            log_event("store.recovered", logging.WARNING, crashed_calls=len(crashed))
        quiet_pjlib()
        self.ep = ep = pj.Endpoint()
        ep.libCreate()
        self._writer = PjLogWriter()
        try:
            ep.libInit(endpoint_config(self.config, self._writer))
            ep.audDevManager().setNullDev()
            transports = create_transports(ep, self.sip)
            codecs = set_codecs(ep, self.sip.codecs)
            self.guard = RequestGuard(
                self.allowlist,
                self.sip.reject,
                self.sip.max_calls,
                self.sip.retry_after_s,
                codec_preference=[(c.split("/")[0], int(c.split("/")[1])) for c in codecs],
            )
            self.guard.register()
            ep.libStart()
            limit = pjsua_library().pjsua_call_get_max_count()
            if self.sip.max_calls > limit:
                raise SipError(
                    f"[sip] max_calls = {self.sip.max_calls} is more than this pjsua build "
                    f"holds ({limit} calls, PJSUA_MAX_CALLS); lower max_calls to {limit} or "
                    "install a pjsua2 built with a larger PJSUA_MAX_CALLS"
                )
            acc_cfg, uri = account_config(self.config)
            self.account = HotlineAccount(self)
            self.account.create(acc_cfg, True)
        except pj.Error as exc:
            self._destroy()
            raise SipError(f"the SIP endpoint failed to start: {pj_error(exc)}") from None
        except Exception:
            self._destroy()
            raise
        self._loop_thread.start()
        if self.config.dashboard.enabled:
            self._start_dashboard()
        if self.config.retention.daily:
            self.retention = DailyPurge(
                self.store,
                self.config.retention.days,
                busy=lambda: self.live_calls > 0,
                log_event=log_event,
            )
            self.retention.start()
        if self.config.insights.enabled:
            self.insights = InsightsWorker(
                self.config,
                self.store,
                busy=lambda: self.live_calls > 0,
                outbox=webhook_events.for_insights(self.config),
            )
            self.insights.start()
        # One deliverer per box, in the process that runs the insights queue.
        if self.config.webhooks and self.insights is not None:
            self.deliverer = Deliverer(self.config, self.store)
            self.deliverer.start()
        rtp = f"{self.sip.rtp_address} ports {self.sip.rtp_port}-"
        rtp += str(self.sip.rtp_port + self.sip.rtp_port_range - 1)
        listening = Listening(tuple(transports), rtp, uri)
        log_event(
            "server.listening",
            transports=",".join(t.replace(" ", ":", 1) for t in transports),
            rtp=rtp.replace(" ", "_"),
            uri=uri,
            max_calls=self.sip.max_calls,
        )
        return listening

    def _start_metrics(self) -> None:
        from ceoline.metrics import Metrics

        metrics = self.config.metrics
        self.metrics = Metrics(self.store)
        llm = self.engines.llm
        shared = self.config.inference.mode == "shared" and hasattr(llm, "available")
        self.metrics.watch(
            lambda: self.live_calls,
            self.refusals,
            (lambda: llm.available) if shared else None,
        )
        if self.metrics.serve(metrics.host, metrics.port):
            log_event("metrics.listening", url=f"http://{metrics.host}:{metrics.port}/metrics")

    def refusals(self) -> dict[str, int]:
        """INVITEs refused so far: 503 (at capacity, stopping), 404 (a number no line
        answers) and sources outside allow."""
        guard = self.guard
        busy = self._refused[503] + (guard.refused_busy if guard else 0)
        outside = self._refused[403] + (guard.dropped if guard else 0)
        return {"503": busy, "404": self._refused[404], "outside_allow": outside}

    def _start_dashboard(self) -> None:
        from ceoline.web import serve_in_thread

        dash = self.config.dashboard
        self._dashboard = serve_in_thread(self.config, self.store)
        log_event("dashboard.listening", url=f"http://{dash.host}:{dash.port}/")

    # -- the SIP thread's loop --------------------------------------------------------------

    def post(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the SIP thread (thread-safe)."""
        self._posted.put(action)

    def request_stop(self, *_: object) -> None:
        """Signal-safe: stop accepting, say goodbye on live calls, then exit."""
        self._stop_requested += 1

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def serve_forever(self) -> None:
        ep = self.ep
        assert ep is not None
        try:
            while True:
                ep.libHandleEvents(POLL_MS)
                self._run_posted()
                self._answer_due()
                self._drop_unacknowledged()
                if self._stop_requested and self._stopping_since is None:
                    self._begin_stop()
                if self._stopping_since is not None and self._stop_done():
                    break
        finally:
            self._finish()

    def _run_posted(self) -> None:
        while True:
            try:
                action = self._posted.get_nowait()
            except queue.Empty:
                return
            try:
                action()
            except pj.Error as exc:
                log.warning("SIP action failed: %s", pj_error(exc))
            except Exception:
                log.exception("SIP action failed")

    def _answer_due(self) -> None:
        now = time.monotonic()
        due = [c for at, c in self._answer_at if at <= now]
        self._answer_at = [(at, c) for at, c in self._answer_at if at > now]
        for call in due:
            if call.pj_id in self.calls and not call.hanging_up:
                call.answered_ok_at = time.monotonic()
                self._answer(call, 200)

    def _drop_unacknowledged(self) -> None:
        """A 200 OK with no ACK after [sip] ack_wait_s frees its line now, not after pjsip's
        32 s of retransmissions: four such INVITEs a minute would otherwise keep every line
        busy, and so would a trunk that loses ACKs."""
        limit = time.monotonic() - self.sip.ack_wait_s
        for call in list(self.calls.values()):
            if (
                call.answered_ok_at is not None
                and call.answered_ok_at <= limit
                and not call.confirmed
                and not call.hanging_up
            ):
                log_event(
                    "call.ack_timeout",
                    logging.WARNING,
                    call=call.session.call_id if call.session else None,
                    waited_s=round(time.monotonic() - call.answered_ok_at, 1),
                )
                branch = self.guard.invite_branch(call.sip_call_id) if self.guard else None
                if terminate_unacknowledged(branch):
                    call.hanging_up = True
                else:
                    self._hangup(call, "ack_timeout")

    # -- calls ------------------------------------------------------------------------------

    @property
    def live_calls(self) -> int:
        return sum(1 for c in self.calls.values() if c.session is not None)

    def _answer(self, call: InboundCall, status: int, headers: dict[str, str] | None = None):
        op = pj.CallOpParam()
        op.statusCode = status
        for name, value in (headers or {}).items():
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            op.txOption.headers.append(header)
        try:
            call.answer(op)
        except pj.Error as exc:
            log.info("call %s: could not answer %d (%s)", call.pj_id, status, pj_error(exc))

    def _on_incoming(self, account: HotlineAccount, prm: pj.OnIncomingCallParam) -> None:
        call = InboundCall(account, prm.callId, self)
        self.calls[prm.callId] = call
        source = prm.rdata.srcAddress
        info = call.getInfo()
        call.sip_call_id = info.callIdString
        if not self.allowlist.allows(source):
            log_event("call.refused", logging.WARNING, source=source, status=403)
            self._refused[403] += 1
            self._answer(call, 403)
            return
        dialed = user_part(request_uri(prm.rdata.wholeMsg) or "")
        line = self.switchboard.route(dialed, user_part(info.localUri))
        if line is None:
            # A PBX expects 404 for a number nobody answers. The dialed user part is the
            # sender's to choose: log_event quotes anything that could forge a field.
            log_event("call.refused", source=source, status=404, dialed=dialed or "")
            self._refused[404] += 1
            self._answer(call, 404)
            return
        if self._stopping_since is not None or self.live_calls >= self.sip.max_calls:
            log_event("call.refused", source=source, status=503, caller=info.remoteUri)
            self._refused[503] += 1
            self._answer(call, 503, {"Retry-After": str(self.sip.retry_after_s)})
            return
        call.pipe = FramePipe()
        call.session = CallSession(
            self.engines.on_line(line),
            self.store,
            IncomingCall(info.callIdString, info.remoteUri, source),
            call.pipe,
            hangup=lambda reason, c=call: self.post(lambda: self._hangup(c, reason)),
            transfer=lambda escalation, c=call: self.post(lambda: self._transfer(c, escalation)),
        )
        future = asyncio.run_coroutine_threadsafe(call.session.run(), self.loop)
        self._futures.add(future)
        future.add_done_callback(self._session_done)
        self._answer(call, 180)
        self._answer_at.append((time.monotonic() + self.sip.answer_delay_ms / 1000, call))
        self._answer_due()

    def _session_done(self, future: concurrent.futures.Future) -> None:
        self._futures.discard(future)
        self.completed += 1
        if not future.cancelled() and future.exception() is not None:
            log.error("call session failed: %r", future.exception())

    def _hangup(self, call: InboundCall, reason: str) -> None:
        if call.pj_id not in self.calls or call.hanging_up:
            return
        call.hanging_up = True
        op = pj.CallOpParam()
        # Only used when the call is not yet answered; an answered call gets a BYE.
        op.statusCode = 503 if reason == "shutdown" else 480
        call.hangup(op)

    def _transfer(self, call: InboundCall, escalation: int | None) -> None:
        """Blind transfer (RFC 3515 REFER) to [handoff] uri; the outcome comes by NOTIFY."""
        if call.pj_id not in self.calls or call.hanging_up or call.session is None:
            return
        uri = call.session.stages.config.handoff.uri  # the line's
        call.transfer_escalation = escalation
        call.transferring = True
        log_event("call.transfer", call=call.session.call_id, to=uri)
        try:
            call.xfer(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            call.transferring = False
            self.loop.call_soon_threadsafe(
                call.session.on_transfer_result, escalation, False, pj_error(exc)
            )

    def _on_transfer_status(self, call: InboundCall, prm: pj.OnCallTransferStatusParam) -> None:
        if not call.transferring or call.session is None:
            return
        code = prm.statusCode
        if not prm.finalNotify and code < 300:
            return  # 100 Trying, 180 Ringing from the transfer target: wait for the end
        call.transferring = False
        prm.cont = False
        ok = 200 <= code < 300
        log_event("call.transfer_result", call=call.session.call_id, status=code, reason=prm.reason)
        self.loop.call_soon_threadsafe(
            call.session.on_transfer_result,
            call.transfer_escalation,
            ok,
            f"{code} {prm.reason}",
        )

    def _on_media_state(self, call: InboundCall) -> None:
        if call.session is None or call.pipe is None:
            return
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = call.getAudioMedia(index)
            if call.port is None:
                call.port = self._take_port(call.pipe)
            audio.startTransmit(call.port)
            call.port.startTransmit(audio)
            if not call.media_up:
                call.media_up = True
                stream = call.getStreamInfo(index)
                codec = f"{stream.codecName}/{stream.codecClockRate}"
                self.loop.call_soon_threadsafe(call.session.on_answered, codec)
        self._maybe_confirmed(call)

    def _maybe_confirmed(self, call: InboundCall) -> None:
        """The conversation starts once the caller has ACKed and media flows, not before:
        a 200 OK that is never acknowledged must not get a greeting nobody hears."""
        if call.confirmed and call.media_up and not call.answered and call.session is not None:
            call.answered = True
            self.loop.call_soon_threadsafe(call.session.on_confirmed)

    def _on_dtmf(self, call: InboundCall, digit: str) -> None:
        if call.session is not None:
            self.loop.call_soon_threadsafe(call.session.on_dtmf, digit)

    def _on_call_state(self, call: InboundCall) -> None:
        info = call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            call.confirmed = True
            self._maybe_confirmed(call)
            return
        if info.state != pj.PJSIP_INV_STATE_DISCONNECTED:
            return
        if call.session is not None:
            if call.confirmed:
                reason = "caller_hangup"
            elif call.media_up:
                reason = "ack_timeout"  # we answered; the caller never acknowledged
            elif info.lastStatusCode == 487:
                reason = "cancelled"
            else:
                reason = f"not_answered_{info.lastStatusCode}"
            self.loop.call_soon_threadsafe(
                call.session.on_disconnected, reason, info.lastStatusCode
            )
        # pjsua2 objects are released after the callback returns, on this thread.
        self.post(lambda: self._release(call))

    def _take_port(self, pipe: FramePipe) -> CallAudioPort:
        port = self._ports.pop() if self._ports else None
        if port is None:
            self._port_count += 1
            port = CallAudioPort(f"call-port-{self._port_count}")
        port.pipe = pipe
        return port

    def _release(self, call: InboundCall) -> None:
        self.calls.pop(call.pj_id, None)
        if call.port is not None:
            call.port.pipe = None
            self._ports.append(call.port)
            # Only the pool may hold a port: one left on a call object could be deleted by a
            # late garbage collection after libDestroy, which pjmedia asserts against.
            call.port = None
        # Break the call <-> session cycle so the pjsua2 objects die here, on this thread,
        # while pjsua is alive, and not in a later garbage collection on another thread.
        call.port = None
        call.session = None
        call.pipe = None

    # -- shutdown ---------------------------------------------------------------------------

    def _begin_stop(self) -> None:
        self._stopping_since = time.monotonic()
        if self.guard is not None:
            self.guard.accepting = False
        log_event("server.stopping", live_calls=self.live_calls)
        for call in list(self.calls.values()):
            if call.session is not None:
                self.loop.call_soon_threadsafe(call.session.request_shutdown)

    def _stop_done(self) -> bool:
        assert self._stopping_since is not None
        waited = time.monotonic() - self._stopping_since
        grace = self.config.call.shutdown_grace_s
        if (self._stop_requested > 1 or waited >= grace) and self.calls:
            for call in list(self.calls.values()):
                if not call.hanging_up:
                    self._hangup(call, "shutdown")
        return (not self.calls and not self._futures) or waited >= grace + DRAIN_S

    def _finish(self) -> None:
        # Sessions store their calls' ends; give them the time to do it before the loop stops.
        for future in list(self._futures):
            try:
                future.result(timeout=5)
            except Exception:
                log.exception("call session did not finish cleanly")
        if self._loop_thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._loop_thread.join(timeout=5)
        if self._dashboard is not None:
            self._dashboard.should_exit = True
        if self.retention is not None:
            self.retention.stop()
        if self.metrics is not None:
            self.metrics.close()
        if self.insights is not None:
            # A job cut short here is queued again at the next start.
            self.insights.stop(timeout=10)
        if self.deliverer is not None:
            # A delivery cut short is still pending, and goes again with the same id.
            self.deliverer.stop()
        self._destroy()
        log_event("server.stopped", calls=self.completed)

    def _destroy(self) -> None:
        self.calls.clear()
        self.account = None
        for port in self._ports:
            port.pipe = None
            delete_port(port)
        self._ports.clear()
        # A pjsua2 object destroyed after libDestroy trips pjsua's assertions: collect now.
        gc.collect()
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except pj.Error as exc:
                log.warning("pjsua shutdown: %s", pj_error(exc))
            self.ep = None
