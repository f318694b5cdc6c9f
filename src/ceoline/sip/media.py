"""The bridge between a pjsua2 call and the voice loop: 20 ms frames through two queues.

pjmedia's clock thread calls :meth:`CallAudioPort.onFrameReceived` and
:meth:`CallAudioPort.onFrameRequested` every 20 ms. They only move bytes between the
conference bridge and two bounded deques (appends and pops are atomic under the GIL); the
conversation runs on the asyncio loop and never in these callbacks. The port runs at 16 kHz,
the conference bridge's rate, so the bridge resamples 8 kHz PCMU/PCMA legs.
"""

from __future__ import annotations

from collections import deque

import pjsua2 as pj

from ceoline.voice.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SILENT_FRAME

# Caller audio waiting for the loop: 1 s absorbs an event-loop stall without losing speech.
INBOUND_FRAMES = 50
# Bot audio queued ahead of the bridge: 2 frames of slack against tick jitter, capped so a
# stalled bridge cannot build up delay.
OUTBOUND_PRIME = 2
OUTBOUND_FRAMES = 10


class FramePipe:
    """The two queues one call's audio flows through; shared by the port and the session."""

    def __init__(self) -> None:
        self.inbound: deque[bytes] = deque(maxlen=INBOUND_FRAMES)
        self.outbound: deque[bytes] = deque([SILENT_FRAME] * OUTBOUND_PRIME, maxlen=OUTBOUND_FRAMES)
        # What the bridge actually took, in order, silence for an underrun: the echo
        # canceller's reference must be what went out on the line, not what was queued.
        self.sent: deque[bytes] = deque(maxlen=INBOUND_FRAMES)
        self.received = 0
        self.played = 0
        self.underruns = 0

    def take_inbound(self) -> list[bytes]:
        return _drain(self.inbound)

    def take_sent(self) -> list[bytes]:
        return _drain(self.sent)


def _drain(queue: deque[bytes]) -> list[bytes]:
    frames = []
    while queue:
        frames.append(queue.popleft())
    return frames


class CallAudioPort(pj.AudioMediaPort):
    """Ports are pooled, not destroyed per call: deleting one while the bridge's clock thread
    may be calling it races CPython's teardown of the object (seen as crashes). Between
    calls a port's ``pipe`` is None and it plays and hears nothing."""

    def __init__(self, name: str, pipe: FramePipe | None = None):
        super().__init__()
        self.pipe = pipe
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)
        self._silence = pj.ByteVector(SILENT_FRAME)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        pipe = self.pipe
        if pipe is None:
            return
        pipe.received += 1
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size == FRAME_BYTES:
            pipe.inbound.append(bytes(frame.buf))
        else:
            pipe.inbound.append(SILENT_FRAME)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        pipe = self.pipe
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.size = FRAME_BYTES
        if pipe is not None and pipe.outbound:
            data = pipe.outbound.popleft()
            frame.buf = pj.ByteVector(data)
            pipe.played += 1
            pipe.sent.append(data)
        else:
            frame.buf = self._silence
            if pipe is not None:
                pipe.underruns += 1
                pipe.sent.append(SILENT_FRAME)


def delete_port(port: CallAudioPort) -> None:
    """Delete the port's C++ side now, while pjsua is alive.

    The pjsua2 director keeps one reference of its own to the Python object, so dropping
    ours does not delete it; left to interpreter exit, the deletion would come after
    libDestroy, which pjmedia asserts against.
    """
    if port.thisown:
        port.thisown = False
        pj.AudioMediaPort.__swig_destroy__(port)
