"""PCM helpers: the loop's one audio format is 16 kHz mono signed 16-bit in 20 ms frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from ceoline.errors import AudioInputError

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
SILENT_FRAME = bytes(FRAME_BYTES)


def to_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def to_int16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (libsoxr); float32 in, float32 out."""
    if rate_in == rate_out or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio.astype(np.float32, copy=False), rate_in, rate_out).astype(
        np.float32, copy=False
    )


def read_wav(path: Path, max_seconds: float | None = None) -> np.ndarray:
    """Read any WAV (rate, channels, sample format) as 16 kHz mono int16.

    Raises :class:`AudioInputError` naming the file and the fix for anything unreadable.
    """
    if not path.exists():
        raise AudioInputError(f"{path}: file not found; give the path of a WAV file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a directory; give the path of a WAV file")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: file is empty (0 bytes); give a WAV file with audio")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError):
        raise AudioInputError(
            f"{path}: not a readable WAV file; convert it, e.g. `sox IN -r 16000 -c 1 OUT.wav`"
        ) from None
    if info.format != "WAV" and info.format != "WAVEX":
        raise AudioInputError(
            f"{path}: is {info.format}, not WAV; convert it, e.g. `sox IN -r 16000 -c 1 OUT.wav`"
        )
    if info.frames == 0 or info.samplerate <= 0:
        raise AudioInputError(f"{path}: WAV holds no audio samples; record some audio first")
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        raise AudioInputError(
            f"{path}: lasts {duration:.1f} s, longer than the {max_seconds:.0f} s limit "
            "([call] max_input_s); trim the file or raise the limit"
        )
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: WAV data is damaged ({exc}); re-export the file") from None
    mono = data.mean(axis=1)
    return to_int16(resample(mono, rate, SAMPLE_RATE))


def write_wav(path: Path, pcm: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), pcm.astype(np.int16), rate, subtype="PCM_16", format="WAV")


def frames(pcm: np.ndarray) -> list[bytes]:
    """Split int16 PCM into 20 ms frames, zero-padding the last one."""
    pad = (-len(pcm)) % FRAME_SAMPLES
    if pad:
        pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
    raw = pcm.astype(np.int16).tobytes()
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]


def rms_dbfs(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * np.log10(max(rms, 1e-3) / 32768.0)


_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """G.711 µ-law bytes of int16 samples (the PCMU a phone trunk carries)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """int16 samples of G.711 µ-law bytes."""
    u = ~codes.astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def through_phone_line(pcm: np.ndarray) -> np.ndarray:
    """16 kHz speech as it arrives over a narrowband trunk: 8 kHz, µ-law, back to 16 kHz."""
    narrow = to_int16(resample(to_float(pcm), SAMPLE_RATE, 8000))
    heard = ulaw_decode(ulaw_encode(narrow))
    return to_int16(resample(to_float(heard), 8000, SAMPLE_RATE))
