"""Echo cancellation: the bot's own voice is taken out of the caller's audio before anyone
listens to it.

On a phone line the caller's channel carries the caller, and the bot only as echo (a handset,
a speakerphone, a 2-to-4-wire hybrid). A canceller that knows what the bot sent (the
*reference*) subtracts that echo however loud it is, so a caller who talks over the greeting
or a reply is heard from the first syllable, and the bot's echo never interrupts it.

The canceller is WebRTC's AEC3, the one browsers and LiveKit run, through the audio
processing module that ships prebuilt in LiveKit's Python SDK (``livekit.rtc``). It finds the
echo path's delay itself (the SIP leg adds the jitter buffer and the far end's own delay).

AEC3 alone is wrong for a line that returns no echo, which most digital trunks and modern
phones are: until it has found an echo path it suppresses whatever arrives while the bot
talks, for the first 5–8 s of a call, which is the greeting, so a caller who speaks over it
would lose the words (measured: a question 1 s into the greeting came out 45–60 dB down). So
each frame is also compared with what the bot sent in the last half second: the canceller's
output is used when the line's audio looks like the bot's echo, the line's own audio when it
does not. Echo through a µ-law line correlates above 0.6 with the reference at its delay;
a caller's voice, even over a -6 dB echo it dominates, stays well below.

Order matters: each bot frame is handed over (:meth:`EchoCanceller.played`) as it is sent,
before the caller frames that can carry its echo are cleaned (:meth:`EchoCanceller.clean`).
Cost: about 0.3 ms of CPU per 20 ms frame, small enough for the tick.
"""

from __future__ import annotations

import numpy as np

from ceoline.config import EchoConfig
from ceoline.errors import ModelError
from ceoline.voice.audio import FRAME_BYTES, SAMPLE_RATE

# The processing module takes exactly 10 ms per call; the loop's frames are 20 ms.
APM_SAMPLES = SAMPLE_RATE // 100
APM_BYTES = APM_SAMPLES * 2

# The likeness test runs at 8 kHz, the band a phone line carries anyway: half the work.
LIKENESS_RATE = 8000
# 100 ms of caller audio: long enough that two unrelated voices rarely look alike by chance.
LIKENESS_WINDOW = LIKENESS_RATE // 10
# Echo delays searched: up to 500 ms (RTP, two jitter buffers, the far end's own path).
MAX_ECHO_DELAY = LIKENESS_RATE // 2
_FFT_SIZE = 1 << int(np.ceil(np.log2(LIKENESS_WINDOW + MAX_ECHO_DELAY + LIKENESS_WINDOW)))
# Normalised correlation above which the caller's audio is taken for the bot's echo.
ECHO_LIKENESS = 0.4
# Caller audio quieter than this has nothing to compare (line silence).
_QUIET_ENERGY = 1e-3 * LIKENESS_WINDOW


def echo_likeness(heard: np.ndarray, sent: np.ndarray) -> float:
    """The highest normalised correlation between ``heard`` (the last window of the caller's
    line) and ``sent`` (the bot's audio over the same window and the delays before it), over
    every delay from 0 to :data:`MAX_ECHO_DELAY` samples. 1.0: the line is the bot's voice."""
    heard_energy = float(np.dot(heard, heard))
    if heard_energy < _QUIET_ENERGY:
        return 0.0
    width = len(heard)
    spectrum = np.fft.rfft(heard[::-1], _FFT_SIZE) * np.fft.rfft(sent, _FFT_SIZE)
    products = np.fft.irfft(spectrum, _FFT_SIZE)
    delays = np.arange(len(sent) - width + 1)
    ends = len(sent) - delays
    cumulative = np.concatenate(([0.0], np.cumsum(sent.astype(np.float64) ** 2)))
    sent_energy = cumulative[ends] - cumulative[ends - width]
    dot = products[ends - 1]
    return float(np.max(np.abs(dot) / np.sqrt(heard_energy * sent_energy + 1e-6)))


def _to_8k(frame: bytes) -> np.ndarray:
    return np.frombuffer(frame, np.int16).astype(np.float32).reshape(-1, 2).mean(axis=1)


class EchoCanceller:
    """One call's canceller: its adaptive filter learns that call's echo path.

    ``cancelled`` and ``passed`` count the caller frames that came out of the canceller and
    the ones that went through as they arrived (not echo).
    """

    def __init__(self, config: EchoConfig):
        self.enabled = config.canceller == "webrtc"
        self.cancelled = 0
        self.passed = 0
        self._apm = None
        if not self.enabled:
            return
        try:
            from livekit import rtc
        except ImportError as exc:
            raise ModelError(
                f"the echo canceller needs the livekit package ({exc}); run `make setup`, or "
                'set [echo] canceller = "off" for a line without echo'
            ) from None
        self._frame = rtc.AudioFrame
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=config.noise_suppression,
            # AEC3 expects it: DC and mains hum would otherwise take part of the filter.
            high_pass_filter=True,
        )
        self._sent = np.zeros(LIKENESS_WINDOW + MAX_ECHO_DELAY, np.float32)
        self._heard = np.zeros(LIKENESS_WINDOW, np.float32)
        self._likeness = 0.0
        self._frames = 0

    def played(self, frame: bytes) -> None:
        """The bot's frame, as it goes out to the caller: the echo to expect."""
        if self._apm is None or len(frame) != FRAME_BYTES:
            return
        for half in (frame[:APM_BYTES], frame[APM_BYTES:]):
            self._apm.process_reverse_stream(self._frame(half, SAMPLE_RATE, 1, APM_SAMPLES))
        self._sent = _shift_in(self._sent, _to_8k(frame))

    def clean(self, frame: bytes) -> bytes:
        """The caller's frame with the bot's echo taken out."""
        if self._apm is None or len(frame) != FRAME_BYTES:
            return frame
        out = bytearray()
        for half in (frame[:APM_BYTES], frame[APM_BYTES:]):
            piece = self._frame(half, SAMPLE_RATE, 1, APM_SAMPLES)
            self._apm.process_stream(piece)  # in place; the filter adapts on every frame
            out += piece.data.cast("B")
        self._heard = _shift_in(self._heard, _to_8k(frame))
        self._frames += 1
        if self._frames % 2 == 0:  # every 40 ms: the window moves little in one frame
            self._likeness = echo_likeness(self._heard, self._sent)
        if self._likeness >= ECHO_LIKENESS:
            self.cancelled += 1
            return bytes(out)
        self.passed += 1
        return frame


def _shift_in(buffer: np.ndarray, samples: np.ndarray) -> np.ndarray:
    buffer[: -len(samples)] = buffer[len(samples) :]
    buffer[-len(samples) :] = samples
    return buffer
