"""A scripted SIP caller on pjsua2: dials the hotline, listens, speaks WAVs, records.

It behaves like a polite person on the phone: it waits for the greeting to finish, says
each prompt, waits for the answer to finish, and hangs up. Everything it hears is recorded
on its own clock, so ``response_ms`` is what a caller on the line would measure: from the
end of their question to the first audible sample of the reply, through RTP, the jitter
buffer and the codec. Used by the end-to-end tests, ``scripts/sip_bench.py`` and
``ceoline dial``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pjsua2 as pj

from ceoline.sip.endpoint import PjLogWriter, cap_jitter_buffer, pj_error, quiet_pjlib
from ceoline.sip.media import delete_port
from ceoline.voice.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENT_FRAME, frames, rms_dbfs

# A received frame louder than this counts as the bot speaking (Piper's quietest speech
# is far above it; line silence is digital zero).
HEARD_DBFS = -45.0
# RFC 4733 digits last ~100 ms each plus end packets: let them go out before a BYE.
DTMF_SETTLE_S = 1.5
# A measuring caller keeps its own jitter buffer small, like a desk phone on a LAN.
DIALER_JITTER_MAX_MS = 200
JITTER_SAMPLE_S = 0.5


@dataclass
class DialScript:
    prompts: list[np.ndarray] = field(default_factory=list)
    dtmf: str = ""
    wait_for_greeting: bool = True
    # Silence that marks the end of the bot's speech (its pauses between clauses are shorter).
    end_of_speech_ms: int = 1200
    # Longest wait for any reply to start.
    reply_timeout_ms: int = 20000
    hangup_after_ms: int = 120000
    # After the script, stay on the line this long (the other side may hang up first).
    hold_ms: int = 0
    # Speak each prompt after the first this long into the bot's answer, over it.
    barge_in_ms: int | None = None
    # Speak the first prompt this long after the call connects, over the greeting, instead of
    # waiting for the greeting to end (callers talk as soon as they hear a voice).
    speak_at_ms: int | None = None
    # Return what we hear to the line at this level (dB) and delay, mixed with what we say:
    # a handset or speakerphone that echoes the bot's voice back. None: no echo.
    echo_db: float | None = None
    echo_delay_ms: int = 120


@dataclass
class TurnMeasure:
    prompt_end_ms: int
    reply_start_ms: int | None = None

    @property
    def response_ms(self) -> int | None:
        if self.reply_start_ms is None:
            return None
        return self.reply_start_ms - self.prompt_end_ms


@dataclass
class DialResult:
    status: int = 0
    reason: str = ""
    connected: bool = False
    codec: str = ""
    remote_hangup: bool = False
    recording: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    turns: list[TurnMeasure] = field(default_factory=list)
    greeting_heard_ms: int | None = None
    transferred_to: str = ""
    # Talking over the bot: when our voice began, and when the bot's audio stopped.
    barge_ins: list[dict] = field(default_factory=list)
    # Our jitter buffer's delay (average and worst seen): part of every latency we hear.
    jitter_buffer_ms: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "reason": self.reason,
            "connected": self.connected,
            "codec": self.codec,
            "remote_hangup": self.remote_hangup,
            "recorded_s": round(len(self.recording) / SAMPLE_RATE, 2),
            "greeting_heard_ms": self.greeting_heard_ms,
            "transferred_to": self.transferred_to,
            "barge_ins": self.barge_ins,
            "jitter_buffer_ms": self.jitter_buffer_ms,
            "turns": [
                {"prompt_end_ms": t.prompt_end_ms, "response_ms": t.response_ms} for t in self.turns
            ],
        }


class _ScriptPort(pj.AudioMediaPort):
    """Runs the script from pjmedia's clock: frames in are heard, frames out are spoken."""

    def __init__(self, script: DialScript, result: DialResult):
        super().__init__()
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, FRAME_MS * 1000, 16)
        self.createPort("dialer", fmt)
        self.script = script
        self.result = result
        self.heard: list[bytes] = []
        self.heard_voice: list[bool] = []
        self.barge_onsets: list[int] = []
        self._barging = False
        self.t_ms = 0
        self.state = "greeting" if script.wait_for_greeting else "next"
        self.prompts = [frames(p) for p in script.prompts]
        self.speaking: list[bytes] = []
        self.voiced_left = 0  # frames until the prompt's last voiced frame has been sent
        self.last_voice_ms: int | None = None
        self.state_since = 0
        self.want_dtmf = bool(script.dtmf)
        self.done = threading.Event()

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        data = bytes(frame.buf) if frame.size == FRAME_BYTES else SILENT_FRAME
        self.heard.append(data)
        self.heard_voice.append(rms_dbfs(data) > HEARD_DBFS)
        if rms_dbfs(data) > HEARD_DBFS:
            self.last_voice_ms = self.t_ms
            if self.result.turns and self.state in ("speaking", "listening"):
                turn = self.result.turns[-1]
                if turn.reply_start_ms is None:
                    turn.reply_start_ms = self.t_ms
            if self.state == "greeting" and self.result.greeting_heard_ms is None:
                self.result.greeting_heard_ms = self.t_ms
        self.t_ms += FRAME_MS
        self._advance()

    def _quiet_for(self, ms: int) -> bool:
        return self.last_voice_ms is not None and self.t_ms - self.last_voice_ms >= ms

    def _advance(self) -> None:
        s = self.script
        if self.t_ms >= s.hangup_after_ms:
            self.done.set()
        elif self.state == "greeting":
            talk_over = s.speak_at_ms is not None and self.t_ms >= s.speak_at_ms
            if talk_over or self._quiet_for(s.end_of_speech_ms) or self.t_ms > 30000:
                self.state = "next"
        elif self.state == "listening" and self.result.turns:
            turn = self.result.turns[-1]
            waited = self.t_ms - turn.prompt_end_ms
            barge = s.barge_in_ms
            if (
                barge is not None
                and self.prompts
                and turn.reply_start_ms is not None
                and self.t_ms - turn.reply_start_ms >= barge
            ):
                self.state = "next"
                self._barging = True
            if (turn.reply_start_ms is not None and self._quiet_for(s.end_of_speech_ms)) or (
                turn.reply_start_ms is None and waited > s.reply_timeout_ms
            ):
                self.state = "next"
        if self.state == "next":
            if self.prompts:
                self.speaking = self.prompts.pop(0)
                voiced = [i for i, f in enumerate(self.speaking) if rms_dbfs(f) > HEARD_DBFS]
                if self._barging:
                    self._barging = False
                    first = voiced[0] if voiced else 0
                    self.barge_onsets.append(self.t_ms + (first + 1) * FRAME_MS)
                self.voiced_left = (voiced[-1] + 1) if voiced else len(self.speaking)
                self.state = "speaking"
            elif not self.want_dtmf:
                self.state = "finished"
                self.done.set()

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.size = FRAME_BYTES
        said = SILENT_FRAME
        if self.state == "speaking" and self.speaking:
            said = self.speaking.pop(0)
            self.voiced_left -= 1
            if self.voiced_left == 0:
                # The question ends with its last voiced frame, not with trailing silence.
                self.result.turns.append(TurnMeasure(prompt_end_ms=self.t_ms + FRAME_MS))
            if not self.speaking:
                self.state = "listening"
        frame.buf = pj.ByteVector(self._with_echo(said))

    def _with_echo(self, said: bytes) -> bytes:
        s = self.script
        back = s.echo_delay_ms // FRAME_MS
        if s.echo_db is None or len(self.heard) <= back:
            return said
        echo = np.frombuffer(self.heard[-1 - back], np.int16).astype(np.float32)
        mixed = np.frombuffer(said, np.int16) + echo * 10 ** (s.echo_db / 20)
        return np.clip(mixed, -32768, 32767).astype(np.int16).tobytes()


class _DialCall(pj.Call):
    def __init__(self, account: pj.Account, dialer: Dialer):
        super().__init__(account)
        self.dialer = dialer

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        self.dialer._on_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.dialer._on_media(self)

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        # Like a phone: accept the transfer and call the target; pjsua2 needs the new call's
        # object from us, and reports its progress to the transferor by NOTIFY.
        self.dialer.transferred_to = prm.dstUri
        self.dialer._transfer_call = _TransferCall(self.dialer.account)
        prm.newCall = self.dialer._transfer_call


class _TransferCall(pj.Call):
    """The call a transfer makes to its target; only kept alive, never scripted."""


class Dialer:
    """One pjsua2 endpoint that places a call; run it in its own process (pjsua is global)."""

    def __init__(self, bind: str = "127.0.0.1", transport: str = "udp", codec: str = ""):
        quiet_pjlib()
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        # pjsip's messages go to Python logging (stderr), never into the --json output.
        self._writer = PjLogWriter()
        cfg.logConfig.writer = self._writer
        cfg.logConfig.consoleLevel = 1
        cfg.logConfig.level = 1
        cfg.medConfig.clockRate = SAMPLE_RATE
        cfg.medConfig.sndClockRate = SAMPLE_RATE
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        cap_jitter_buffer(cfg.medConfig, DIALER_JITTER_MAX_MS)
        self.ep.libInit(cfg)
        self.ep.audDevManager().setNullDev()
        kind = pj.PJSIP_TRANSPORT_TCP if transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
        tc = pj.TransportConfig()
        tc.port = 0
        tc.boundAddress = bind
        tc.publicAddress = bind
        self.ep.transportCreate(kind, tc)
        if codec:
            for c in self.ep.codecEnum2():
                self.ep.codecSetPriority(
                    c.codecId, 255 if c.codecId.lower().startswith(codec.lower()) else 0
                )
        self.ep.libStart()
        self.transport = transport
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:caller@{bind}"
        acc_cfg.mediaConfig.transportConfig.boundAddress = bind
        acc_cfg.mediaConfig.transportConfig.publicAddress = bind
        # Several dialers may run at once: start each at its own RTP port.
        acc_cfg.mediaConfig.transportConfig.port = random.randrange(20000, 60000, 2)
        acc_cfg.mediaConfig.transportConfig.portRange = 200
        self.account = pj.Account()
        self.account.create(acc_cfg)
        self._call: _DialCall | None = None
        self._transfer_call: pj.Call | None = None
        self.transferred_to = ""
        self._port: _ScriptPort | None = None
        self._disconnected = False
        self.result = DialResult()
        self.script = DialScript()

    def dial(self, uri: str, script: DialScript, timeout_s: float = 180) -> DialResult:
        self.script = script
        self._port = _ScriptPort(script, self.result)
        if self.transport == "tcp" and "transport=" not in uri:
            uri += ";transport=tcp"
        self._call = _DialCall(self.account, self)
        try:
            self._call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            self.result.reason = pj_error(exc)
            return self.result
        deadline = time.monotonic() + timeout_s
        dtmf_sent_at: float | None = None
        done_at: float | None = None
        hung_up = False
        sampled_at = 0.0
        while not self._disconnected and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
            port = self._port
            now = time.monotonic()
            if self.result.connected and now - sampled_at >= JITTER_SAMPLE_S:
                sampled_at = now
                self._sample_jitter()
            if port.want_dtmf and dtmf_sent_at is None and port.state in ("next", "finished"):
                self._call.dialDtmf(script.dtmf)
                dtmf_sent_at = now
            if dtmf_sent_at is not None and now - dtmf_sent_at > DTMF_SETTLE_S:
                port.want_dtmf = False
            if port.done.is_set() and not port.want_dtmf and done_at is None:
                done_at = now
            if done_at is not None and not hung_up and now - done_at >= script.hold_ms / 1000:
                hung_up = True
                self._call.hangup(pj.CallOpParam(True))
        if not self._disconnected:
            hung_up = True  # our own timeout: we hang up, they did not
            self._call.hangup(pj.CallOpParam(True))
            end = time.monotonic() + 3
            while not self._disconnected and time.monotonic() < end:
                self.ep.libHandleEvents(10)
        self.result.remote_hangup = self._disconnected and not hung_up
        self.result.transferred_to = self.transferred_to
        heard = b"".join(self._port.heard)
        self.result.recording = np.frombuffer(heard, dtype=np.int16).copy()
        self.result.barge_ins = [
            _stop_heard(self._port.heard_voice, onset) for onset in self._port.barge_onsets
        ]
        return self.result

    def _sample_jitter(self) -> None:
        call = self._call
        try:
            info = call.getInfo()
            index = next(
                i
                for i, m in enumerate(info.media)
                if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            )
            jb = call.getStreamStat(index).jbuf
        except (pj.Error, StopIteration):
            return
        seen = self.result.jitter_buffer_ms
        seen["avg"] = jb.avgDelayMsec
        seen["max"] = max(seen.get("max", 0), jb.maxDelayMsec)

    def _on_state(self, call: _DialCall) -> None:
        info = call.getInfo()
        self.result.status = info.lastStatusCode
        self.result.reason = info.lastReason
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.result.connected = True
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._disconnected = True

    def _on_media(self, call: _DialCall) -> None:
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = call.getAudioMedia(index)
                audio.startTransmit(self._port)
                self._port.startTransmit(audio)
                stream = call.getStreamInfo(index)
                self.result.codec = f"{stream.codecName}/{stream.codecClockRate}"

    def close(self) -> None:
        self._call = None
        self._transfer_call = None
        if self._port is not None:
            delete_port(self._port)
        self._port = None
        self.account = None
        self.ep.libDestroy()


def _stop_heard(voice: list[bool], onset_ms: int, quiet_ms: int = 300) -> dict:
    """When the bot's audio stopped after our voice began at ``onset_ms`` (as heard)."""
    start = onset_ms // FRAME_MS
    need = quiet_ms // FRAME_MS
    for i in range(start, len(voice) - need + 1):
        if not any(voice[i : i + need]):
            return {
                "onset_ms": onset_ms,
                "stopped_ms": i * FRAME_MS,
                "latency_ms": max(0, (i - start) * FRAME_MS),
            }
    return {"onset_ms": onset_ms, "stopped_ms": None, "latency_ms": None}
