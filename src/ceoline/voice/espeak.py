"""espeak-ng: a second voice for tests and evaluations, and a line's voice where no Piper
voice speaks its language.

Callers do not sound like the bot's own Piper voice; a loop tested only on that voice is
tested on the one speaker it will never hear. espeak-ng (Debian `espeak-ng`) is formant
synthesis, nothing like Piper's neural voice, so Whisper meets an unfamiliar speaker. It
speaks over a hundred languages, so a line in one no packaged Piper voice speaks (Swedish)
speaks with it (``[[lines]] voice = "espeak-ng:sv"``) until a Piper voice is placed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile

from ceoline.errors import CeolineError, ModelError
from ceoline.voice.audio import SAMPLE_RATE, resample, to_int16
from ceoline.voice.speech_cache import file_identity
from ceoline.voice.tts import Speech

ESPEAK = "espeak-ng"


def available() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(text: str, voice: str = "en-us", words_per_minute: int = 165) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16 kHz int16."""
    if not available():
        raise CeolineError(f"{ESPEAK} is not installed; install the Debian package espeak-ng")
    # The text is an argument, never a shell string; "--" ends the options.
    done = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(words_per_minute), "--stdout", "--", text],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        raise CeolineError(f"{ESPEAK} failed: {done.stderr.decode(errors='replace')[:200]}")
    audio, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return to_int16(resample(audio, rate, SAMPLE_RATE))


class EspeakSynthesizer:
    """A line's voice by espeak-ng (``Synthesizer``'s interface). Each line is its own
    process run (about 50 ms for a sentence), so nothing is shared between threads."""

    def __init__(self, voice: str):
        self.voice = voice
        try:
            speak("ok", voice)
        except CeolineError as exc:
            raise ModelError(
                f"espeak-ng voice {voice!r} does not speak ({exc}); install espeak-ng, or pick "
                "a voice from `espeak-ng --voices`"
            ) from None

    @property
    def identity(self) -> str:
        """What the audio of a text depends on (an upgraded espeak-ng speaks differently)."""
        return f"{ESPEAK}|{self.voice}|{file_identity(Path(shutil.which(ESPEAK) or ESPEAK))}"

    def synthesize(self, text: str) -> Speech:
        started = time.perf_counter()
        pcm = speak(text, self.voice) if text.strip() else np.zeros(0, np.int16)
        return Speech(pcm=pcm, elapsed_ms=(time.perf_counter() - started) * 1000)
