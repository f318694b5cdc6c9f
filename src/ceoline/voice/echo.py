"""Echo cancellation: the bot's own voice is taken out of the caller's audio before anyone
listens to it.

On a phone line the caller's channel carries the caller, and the bot only as echo (a handset,
a speakerphone, a 2-to-4-wire hybrid). A canceller that knows what the bot sent (the
*reference*) subtracts that echo however loud it is, so a caller who talks over the greeting
or a reply is heard from the first syllable, and the bot's echo never interrupts it.

The canceller is WebRTC's AEC3, the one browsers and LiveKit run, through the audio
processing module that ships prebuilt in LiveKit's Python SDK (``livekit.rtc``). AEC3 alone
is wrong twice. On a line that returns no echo (most digital trunks and modern phones) it
suppresses whatever arrives while the bot talks, until it finds an echo path, for the first
5-8 s of a call, which is the greeting (measured: a question 1 s in came out 45-63 dB down).
And under a strong echo its suppressor takes a caller's words with it. So each frame is first
compared with what the bot sent in the last half second (:func:`likeness_by_delay`):

* no echo ever seen on the line: the frame goes on as it came;
* the bot's echo alone (a near-perfect match, twice at the same delay): AEC3's output;
* anything else on a line with echo: the line filter's output (:class:`LineEchoFilter`, the
  echo subtracted at its delay, the caller's voice untouched), or AEC3's while the filter is
  still learning or the delay has just moved. What goes on is checked once more: output that
  still matches the bot's audio is echo let through, and is not passed on as the caller.

Order matters: each bot frame is handed over (:meth:`EchoCanceller.played`) as it goes out,
before the caller frames that can carry its echo are cleaned (:meth:`EchoCanceller.clean`).
Cost: about 0.3-0.6 ms of CPU per 20 ms frame on this box, small enough for the tick.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ceoline.config import EchoConfig
from ceoline.errors import ModelError
from ceoline.voice.audio import FRAME_BYTES, SAMPLE_RATE

# The processing module takes exactly 10 ms per call; the loop's frames are 20 ms.
APM_SAMPLES = SAMPLE_RATE // 100
APM_BYTES = APM_SAMPLES * 2
FRAME_SAMPLES = FRAME_BYTES // 2

# The likeness test runs at 8 kHz, the band a phone line carries anyway: half the work.
LIKENESS_RATE = 8000
# 100 ms of caller audio: long enough that two unrelated voices rarely look alike by chance.
LIKENESS_WINDOW = LIKENESS_RATE // 10
# Echo delays searched: up to 500 ms (RTP, two jitter buffers, the far end's own path).
MAX_ECHO_DELAY = LIKENESS_RATE // 2
_FFT_SIZE = 1 << int(np.ceil(np.log2(LIKENESS_WINDOW + MAX_ECHO_DELAY + LIKENESS_WINDOW)))
# Echo alone matches the bot's audio at its delay at 0.98-1.0 (through µ-law too). Another
# voice can match 0.5-0.8 at *some* delay by chance (voiced speech is nearly periodic, and
# 4,000 delays are tried), never at the same delay twice in a row nor above this:
ECHO_CERTAIN = 0.9
# Once the line's echo delay is known, audio matching the bot this well at that delay is
# echo (the caller talking over it pulls the match down: then the caller dominates).
ECHO_LIKENESS = 0.4
# How far (samples at 8 kHz) the delay may wander between two looks and still be the same.
DELAY_SLACK = 2
# What the line filter leaves may not match the bot's audio this well within 20 ms of the
# line's delay (a jitter buffer moves it by a frame at a time): that would be echo getting
# through, not the caller (whose chance matches are rarer in so few delays).
LEAK_LIKENESS = 0.6
LEAK_SEARCH = LIKENESS_RATE // 50
# A frame the line filter took this much (dB) out of held only echo: what is left of it is
# the echo's last traces, not a caller (a caller under the echo leaves far more).
LEFTOVER_DB = 20.0
# Caller audio quieter than this has nothing to compare (line silence).
_QUIET_ENERGY = 1e-3 * LIKENESS_WINDOW


def likeness_by_delay(heard: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """The normalised correlation between ``heard`` (the last window of the caller's line) and
    ``sent`` (the bot's audio over the same window and the delays before it), for every delay
    from 0 to ``len(sent) - len(heard)`` samples. 1.0 at delay d: the line is the bot's voice,
    d samples late. Zero where either side is silent."""
    width = len(heard)
    delays = np.arange(len(sent) - width + 1)
    heard_energy = float(np.dot(heard, heard))
    if heard_energy < _QUIET_ENERGY:
        return np.zeros(len(delays))
    spectrum = np.fft.rfft(heard[::-1], _FFT_SIZE) * np.fft.rfft(sent, _FFT_SIZE)
    products = np.fft.irfft(spectrum, _FFT_SIZE)
    ends = len(sent) - delays
    cumulative = np.concatenate(([0.0], np.cumsum(sent.astype(np.float64) ** 2)))
    sent_energy = cumulative[ends] - cumulative[ends - width]
    likeness = np.abs(products[ends - 1]) / np.sqrt(heard_energy * np.maximum(sent_energy, 1.0))
    likeness[sent_energy < _QUIET_ENERGY] = 0.0
    return likeness


def _to_8k(frame: bytes) -> np.ndarray:
    return np.frombuffer(frame, np.int16).astype(np.float32).reshape(-1, 2).mean(axis=1)


class LineEchoFilter:
    """The echo path's short response at the line's known delay, by least squares.

    Learned only from frames that are the bot's echo alone, and subtracted from frames where
    the caller talks over the echo. There AEC3's output cannot be used: its suppressor,
    seeing echo, takes the caller's words with it (``ceoline eval overtalk``: 62 % word
    errors under a -6 dB echo, 22 % through this filter). A linear subtraction leaves the
    caller's voice as it was.
    """

    # At 16 kHz: 0.5 ms before the found delay (it is found at 8 kHz) and 3.5 ms after it,
    # the spread of a line's echo (a hybrid, a codec's filters); more taps cost more than
    # the ~0.15 ms a frame the filter takes now.
    TAPS_BEFORE = 8
    TAPS_AFTER = 56
    # Each learning frame's weight against the ones before: 20 frames' memory.
    FORGET = 0.95
    # Settled: it took this much (dB) out of an echo frame it had not learned from, on 3 of
    # the last 8; from then on, until the delay changes, its subtraction is trusted on every
    # frame (frames with a caller under the echo, which it takes less out of, do not count
    # against it).
    SETTLED_DB = 30.0
    SETTLED_OF = (3, 8)

    def __init__(self) -> None:
        self.delay: int | None = None  # samples at 16 kHz
        self._gram: np.ndarray | None = None
        self._cross: np.ndarray | None = None
        self.weights: np.ndarray | None = None
        self._reductions: deque[float] = deque(maxlen=self.SETTLED_OF[1])
        self.settled = False

    def _taps(self, sent: np.ndarray, delay: int) -> np.ndarray:
        """Rows: this frame's samples; columns: the bot's audio at each tap's delay."""
        before = min(self.TAPS_BEFORE, delay)
        end = len(sent) - delay + before
        segment = sent[end - FRAME_SAMPLES - self.TAPS_AFTER - before + 1 : end]
        return np.lib.stride_tricks.sliding_window_view(segment, self.TAPS_AFTER + before)

    def learn(self, sent: np.ndarray, heard: np.ndarray, delay: int) -> None:
        if delay != self.delay:
            self.delay, self._gram, self._cross, self.weights = delay, None, None, None
            self._reductions.clear()
            self.settled = False
        taps = self._taps(sent, delay).astype(np.float64)
        if self.weights is not None and len(self.weights) == taps.shape[1]:
            self._reductions.append(reduction_db(heard, heard - taps @ self.weights))
            good = sum(r >= self.SETTLED_DB for r in self._reductions)
            self.settled = self.settled or good >= self.SETTLED_OF[0]
        gram, cross = taps.T @ taps, taps.T @ heard
        if self._gram is None or self._gram.shape != gram.shape:
            self._gram, self._cross = gram, cross
        else:
            self._gram = self.FORGET * self._gram + gram
            self._cross = self.FORGET * self._cross + cross
        ridge = 1e-3 * np.trace(self._gram) / len(gram) + 1.0
        self.weights = np.linalg.solve(self._gram + ridge * np.eye(len(gram)), self._cross)

    def subtract(self, sent: np.ndarray, heard: np.ndarray) -> np.ndarray | None:
        """``heard`` less the echo predicted from ``sent``; None before anything is learned."""
        if self.weights is None or self.delay is None:
            return None
        taps = self._taps(sent, self.delay)
        if taps.shape[1] != len(self.weights):
            return None
        return heard - taps @ self.weights


class EchoCanceller:
    """One call's canceller. Each caller frame is one of three things, and treated so:

    * the bot's echo alone (it matches the bot's audio at the line's delay): AEC3's output,
      which leaves line silence; the line filter learns from it;
    * the caller over the echo (a weaker match at that delay): the line filter's output, the
      echo subtracted and the caller's voice untouched;
    * anything else (no echo on this line, or the bot silent): the line's audio as it came.

    ``cancelled``, ``subtracted`` and ``passed`` count the frames each way went.
    """

    def __init__(self, config: EchoConfig, *, pass_non_echo: bool = True):
        """``pass_non_echo=False`` always takes AEC3's output (the eval's comparison)."""
        self.enabled = config.canceller == "webrtc"
        self._pass_non_echo = pass_non_echo
        self.cancelled = self.subtracted = self.passed = 0
        self.silenced = 0  # of the cancelled: AEC3 let echo through, so silence went on
        # The last frame held the bot's echo and nothing else: whatever went on from it is
        # the echo's residue, never the caller.
        self.echo_only = False
        self._apm = None
        if not self.enabled:
            return
        try:
            from livekit import rtc
        except ImportError as exc:
            raise ModelError(
                f"the echo canceller needs the livekit package ({exc}); run `make install`, or "
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
        self._sent_wide = np.zeros(2 * len(self._sent) + 2 * FRAME_SAMPLES, np.float32)
        self._heard = np.zeros(LIKENESS_WINDOW, np.float32)
        self._out = np.zeros(LIKENESS_WINDOW, np.float32)  # what went on, at 8 kHz
        # The line's echo delay (samples at 8 kHz) once seen twice; None: no echo found yet.
        self.delay: int | None = None
        self._candidate = (-1, 0)  # a delay seen with certainty, and how many looks in a row
        self.line_filter = LineEchoFilter()
        # How often the echo's delay moved (a jitter buffer growing or shrinking moves it).
        self.delay_changes = 0

    def summary(self) -> str:
        """One line for the call's log: the echo found, and what each frame went through."""
        if not self.enabled:
            return "canceller off"
        found = "none" if self.delay is None else f"at {self.delay * 1000 // LIKENESS_RATE} ms"
        settled = ", line filter settled" if self.line_filter.settled else ""
        moved = max(0, self.delay_changes - 1)  # the first change is the echo being found
        moves = f", delay moved {moved} times" if moved else ""
        return (
            f"{found}{settled}{moves}; frames cancelled {self.cancelled}, subtracted "
            f"{self.subtracted}, passed {self.passed}; silenced {self.silenced}"
        )

    def played(self, frame: bytes) -> None:
        """The bot's frame, as it goes out to the caller: the echo to expect."""
        if self._apm is None or len(frame) != FRAME_BYTES:
            return
        for half in (frame[:APM_BYTES], frame[APM_BYTES:]):
            self._apm.process_reverse_stream(self._frame(half, SAMPLE_RATE, 1, APM_SAMPLES))
        self._sent = _shift_in(self._sent, _to_8k(frame))
        self._sent_wide = _shift_in(self._sent_wide, np.frombuffer(frame, np.int16))

    def clean(self, frame: bytes) -> bytes:
        """The caller's frame with the bot's echo taken out."""
        if self._apm is None or len(frame) != FRAME_BYTES:
            return frame
        cancelled = bytearray()
        for half in (frame[:APM_BYTES], frame[APM_BYTES:]):
            piece = self._frame(half, SAMPLE_RATE, 1, APM_SAMPLES)
            self._apm.process_stream(piece)  # in place; AEC3 adapts on every frame
            cancelled += piece.data.cast("B")
        self._heard = _shift_in(self._heard, _to_8k(frame))
        kind = self._kind(likeness_by_delay(self._heard, self._sent))
        self.echo_only = kind in ("echo", "moved")
        heard = np.frombuffer(frame, np.int16).astype(np.float64)
        if kind == "echo":
            self.line_filter.learn(self._sent_wide, heard, 2 * self.delay)
        if not self._pass_non_echo:
            return self._take(cancelled=bytes(cancelled))
        if self.delay is None:
            # No echo found on this line (yet): its audio is the caller's, and AEC3, still
            # looking for an echo path, would suppress it.
            return self._take(passed=frame)
        left = self.line_filter.subtract(self._sent_wide, heard)
        # The filter knows the echo path: what it leaves is the caller (whose quiet words
        # AEC3's suppressor would take with the echo), unless it left almost nothing (the
        # echo's last traces), or what it leaves still sounds like the bot: the delay moved
        # (a jitter buffer grew or shrank) before a look could tell.
        usable = kind != "moved" and left is not None and self.line_filter.settled
        if usable and (kind == "mixed" or reduction_db(heard, left) < LEFTOVER_DB):
            subtracted = _pcm(left)
            candidate = _shift_in(self._out.copy(), _to_8k(subtracted))
            if not self._leaks(candidate):
                self._out = candidate
                return self._take(subtracted=subtracted)
        # Echo alone, an echo path on the move, or a filter still learning: AEC3, which
        # follows a moving delay by itself, though not at once. What it lets through while
        # it re-converges still sounds like the bot; that frame is silenced instead (a
        # caller talking would make it sound like the caller).
        out = bytes(cancelled)
        candidate = _shift_in(self._out.copy(), _to_8k(out))
        if self._leaks(candidate, anywhere=True):
            out = bytes(len(out))
            candidate = _shift_in(self._out.copy(), np.zeros(FRAME_SAMPLES // 2, np.float32))
            self.silenced += 1
        self._out = candidate
        return self._take(cancelled=out)

    def _leaks(self, out: np.ndarray, anywhere: bool = False) -> bool:
        """The last window of what would go on to the listeners still matches the bot's audio:
        near the line's delay, or (``anywhere``) with certainty at any delay."""
        likeness = likeness_by_delay(out, self._sent)
        near = likeness[max(0, self.delay - LEAK_SEARCH) : self.delay + LEAK_SEARCH + 1]
        if float(near.max()) >= LEAK_LIKENESS:
            return True
        return anywhere and float(likeness.max()) >= ECHO_CERTAIN

    def _take(self, *, cancelled=None, subtracted=None, passed=None) -> bytes:
        if cancelled is not None:
            self.cancelled += 1
            return cancelled
        if subtracted is not None:
            self.subtracted += 1
            return subtracted
        self.passed += 1
        return passed

    def _kind(self, likeness: np.ndarray) -> str:
        """What this frame holds: "echo" (the bot's echo alone, at the line's delay), "moved"
        (echo at another delay), "mixed" (a weaker match at the delay: the caller over the
        echo) or "line" (no echo in it)."""
        best = int(np.argmax(likeness))
        near_delay = self.delay is not None and abs(best - self.delay) <= DELAY_SLACK
        if likeness[best] >= ECHO_CERTAIN:
            seen, times = self._candidate
            times = times + 1 if abs(best - seen) <= DELAY_SLACK else 1
            self._candidate = (best, times)
            if near_delay:
                return "echo"
            if times >= 2:
                self.delay = best
                self.delay_changes += 1
                return "echo"
            if self.delay is not None:
                return "moved"  # seen once there: the next look decides
        else:
            self._candidate = (-1, 0)
        if self.delay is None:
            return "line"
        near = likeness[max(0, self.delay - DELAY_SLACK) : self.delay + DELAY_SLACK + 1]
        return "mixed" if float(near.max()) >= ECHO_LIKENESS else "line"


def reduction_db(before: np.ndarray, after: np.ndarray) -> float:
    return 10 * float(np.log10((before @ before + 1.0) / (after @ after + 1.0)))


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16).tobytes()


def _shift_in(buffer: np.ndarray, samples: np.ndarray) -> np.ndarray:
    buffer[: -len(samples)] = buffer[len(samples) :]
    buffer[-len(samples) :] = samples
    return buffer
