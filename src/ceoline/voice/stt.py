"""Speech to text: faster-whisper (CTranslate2) over a finished caller turn."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ceoline.config import RuntimeConfig, SttConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.audio import SAMPLE_RATE, to_float


@dataclass(frozen=True)
class Transcript:
    text: str
    duration_s: float
    elapsed_ms: float


def compute_type_for(config: SttConfig, device: str) -> str:
    if config.compute_type != "auto":
        return config.compute_type
    return "float16" if device == "cuda" else "int8"


def whisper_options(model: ModelFiles, config: SttConfig, runtime: RuntimeConfig) -> dict:
    return {
        "model_size_or_path": str(model.path),
        "device": runtime.device,
        "compute_type": compute_type_for(config, runtime.device),
        "cpu_threads": runtime.threads,
        "num_workers": 1,
        "local_files_only": True,
    }


class Transcriber:
    """One shared Whisper model; calls are serialised because CTranslate2 runs one at a time
    per worker anyway, and queuing here keeps the per-turn timing honest."""

    def __init__(self, model: ModelFiles, config: SttConfig, runtime: RuntimeConfig):
        from faster_whisper import WhisperModel

        self.config = config
        try:
            self._model = WhisperModel(**whisper_options(model, config, runtime))
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"cannot load speech-to-text model {model.path} ({str(exc).splitlines()[0]}); "
                "check the file is an intact CTranslate2 Whisper model and [runtime] device"
            ) from None
        self._lock = threading.Lock()
        # Names Whisper should expect (see Engines.load); None until they are known.
        self.hotwords: str | None = None

    def transcribe(self, pcm: bytes | np.ndarray, use_hotwords: bool = True) -> Transcript:
        """``use_hotwords=False`` transcribes without them (to measure what they are worth)."""
        samples = np.frombuffer(pcm, dtype=np.int16) if isinstance(pcm, bytes) else pcm
        audio = to_float(samples)
        started = time.perf_counter()
        with self._lock:
            segments, _info = self._model.transcribe(
                audio,
                language=self.config.language,
                beam_size=self.config.beam_size,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
                no_speech_threshold=self.config.no_speech_threshold,
                hotwords=self.hotwords if use_hotwords else None,
            )
            text = " ".join(seg.text.strip() for seg in segments).strip()
        return Transcript(
            text=text,
            duration_s=len(samples) / SAMPLE_RATE,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
