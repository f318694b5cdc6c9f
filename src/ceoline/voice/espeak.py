"""A second voice for tests and evaluations: espeak-ng, which the bot itself never speaks with.

Callers do not sound like the bot's own Piper voice; a loop tested only on that voice is
tested on the one speaker it will never hear. espeak-ng (Debian `espeak-ng`) is formant
synthesis, nothing like Piper's neural voice, so Whisper meets an unfamiliar speaker.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile

from ceoline.errors import CeolineError
from ceoline.voice.audio import SAMPLE_RATE, resample, to_int16

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
