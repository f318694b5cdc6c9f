"""One bot turn on its way out: audio arrives in pieces from synthesis and leaves in 20 ms
frames; what was played is tracked so an interrupted reply stores only what was heard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceoline.voice.audio import FRAME_BYTES, FRAME_MS
from ceoline.voice.timings import TurnTimings


@dataclass
class Utterance:
    """One bot turn: audio arrives in pieces from synthesis and leaves in 20 ms frames."""

    timings: TurnTimings | None = None  # None for the greeting
    caller_turn_seq: int | None = None
    text_parts: list[str] = field(default_factory=list)
    # Byte offset in the utterance's audio at which each text part starts.
    part_offsets: list[int] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    queued_bytes: int = 0
    played_bytes: int = 0
    generated: bool = False
    start_ms: int | None = None
    end_ms: int | None = None
    # The greeting's disclosure must be heard whole: caller speech does not cut it.
    interruptible: bool = True
    on_played: Any = None  # called once the last frame has gone out

    @property
    def text(self) -> str:
        return " ".join(p for p in self.text_parts if p).strip()

    @property
    def spoken_text(self) -> str:
        """The parts whose audio had started playing: what the caller actually heard."""
        heard = [
            t
            for t, o in zip(self.text_parts, self.part_offsets, strict=True)
            if o < self.played_bytes
        ]
        return " ".join(heard).strip()

    def add(self, text: str, pcm: np.ndarray) -> None:
        self.text_parts.append(text)
        self.part_offsets.append(self.queued_bytes)
        raw = pcm.astype(np.int16).tobytes()
        self.audio.extend(raw)
        self.queued_bytes += len(raw)

    def take_frame(self) -> bytes | None:
        if len(self.audio) >= FRAME_BYTES:
            frame = bytes(self.audio[:FRAME_BYTES])
            del self.audio[:FRAME_BYTES]
            self.played_bytes += FRAME_BYTES
            return frame
        if self.generated and self.audio:
            self.played_bytes += len(self.audio)
            frame = bytes(self.audio).ljust(FRAME_BYTES, b"\0")
            self.audio.clear()
            return frame
        return None

    @property
    def left_ms(self) -> int:
        """How long the audio synthesized so far and not yet played lasts."""
        return len(self.audio) * FRAME_MS // FRAME_BYTES

    @property
    def drained(self) -> bool:
        return self.generated and not self.audio
