"""Text to speech: a Piper voice, resampled to the loop's 16 kHz."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ceoline.config import RuntimeConfig, TtsConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.audio import SAMPLE_RATE, resample, to_int16
from ceoline.voice.speech_cache import file_identity


@dataclass(frozen=True)
class Speech:
    pcm: np.ndarray  # int16 at 16 kHz
    elapsed_ms: float


def onnx_providers(device: str) -> list:
    if device == "cuda":
        return [
            ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}),
            "CPUExecutionProvider",
        ]
    return ["CPUExecutionProvider"]


class Synthesizer:
    def __init__(self, model: ModelFiles, config: TtsConfig, runtime: RuntimeConfig):
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig, SynthesisConfig

        self.config = config
        config_path = Path(f"{model.path}.json")
        try:
            options = onnxruntime.SessionOptions()
            # Piper's own loader lets onnxruntime take every core; on a shared call box the
            # LLM and STT threads need theirs, so the voice gets the configured count.
            options.intra_op_num_threads = runtime.stage_threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model.path), sess_options=options, providers=onnx_providers(runtime.device)
            )
            voice_config = PiperConfig.from_dict(json.loads(config_path.read_text("utf-8")))
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            raise ModelError(
                f"cannot load Piper voice {model.path} ({str(exc).splitlines()[0][:160]}); "
                "check the .onnx and .onnx.json files are intact"
            ) from None
        self._voice = PiperVoice(session=session, config=voice_config, download_dir=Path("."))
        self._syn_config = SynthesisConfig(
            length_scale=config.length_scale,
            noise_scale=config.noise_scale,
            noise_w_scale=config.noise_w_scale,
            volume=config.volume,
        )
        self.voice_rate = voice_config.sample_rate
        self._lock = threading.Lock()
        # What the audio of a text depends on: kept speech is reused only for the same.
        self.identity = "|".join(
            map(str, ("piper", file_identity(model.path, config_path), self._syn_config,
                      SAMPLE_RATE))
        )  # fmt: skip

    def synthesize(self, text: str) -> Speech:
        started = time.perf_counter()
        with self._lock:
            chunks = [c.audio_float_array for c in self._voice.synthesize(text, self._syn_config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        pcm = to_int16(resample(audio, self.voice_rate, SAMPLE_RATE))
        return Speech(pcm=pcm, elapsed_ms=(time.perf_counter() - started) * 1000)
