"""Is the caller done? Smart Turn v3.2 judges it from the sound of the turn so far.

Smart Turn (pipecat-ai/smart-turn, BSD-2-Clause) is a Whisper-tiny encoder with a classifier
head, about 8 M parameters, trained on finished and unfinished turns: it hears the falling
pitch and the drawn-out "so..." that silence length cannot tell apart. The int8 CPU file ships
inside the ``pipecat-ai`` wheel, with pipecat's numpy port of Whisper's log-mel features; both
are used from there. pipecat's own analyzer class is not: it buffers audio by its own VAD
state on its own clock and needs the rest of pipecat's frame machinery, while a call here
decides on the 20 ms tick it already runs, with its own endpointer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ceoline.config import RuntimeConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.audio import SAMPLE_RATE, to_float

# The model hears at most the last 8 s of a turn; shorter turns are padded in front.
WINDOW_SAMPLES = 8 * SAMPLE_RATE


@dataclass(frozen=True)
class TurnVerdict:
    complete: float  # the model's probability that the caller has finished
    elapsed_ms: float


def _window(samples: np.ndarray) -> np.ndarray:
    audio = to_float(samples)
    if len(audio) >= WINDOW_SAMPLES:
        return audio[-WINDOW_SAMPLES:]
    return np.pad(audio, (WINDOW_SAMPLES - len(audio), 0))


class TurnModel:
    """One shared ONNX session, one thread per inference: a check runs beside Whisper on the
    other core instead of competing with it for both."""

    def __init__(self, model: ModelFiles, runtime: RuntimeConfig):
        import onnxruntime as ort

        try:
            from loguru import logger

            logger.disable("pipecat")  # its import-time banner would land in every CLI's stderr
            from pipecat.audio.turn.smart_turn._whisper_features import (
                compute_whisper_log_mel_features,
            )
        except ImportError:
            raise ModelError(
                "the turn model's feature extractor (package pipecat-ai) is missing; "
                "run `make install`"
            ) from None
        self._features = compute_whisper_log_mel_features
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if runtime.device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(
                str(model.path), sess_options=options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(
                f"cannot load turn model {model.path} ({str(exc).splitlines()[0]}); "
                "check the file is an intact Smart Turn ONNX model"
            ) from None
        self._input = self._session.get_inputs()[0].name

    def judge(self, pcm: bytes | np.ndarray) -> TurnVerdict:
        """``pcm``: the turn so far, 16 kHz int16, ending in the pause being judged."""
        samples = np.frombuffer(pcm, dtype=np.int16) if isinstance(pcm, bytes) else pcm
        started = time.perf_counter()
        features = self._features(_window(samples), do_normalize=True)[np.newaxis]
        # onnxruntime sessions may run from several threads at once: no lock needed.
        (probability,) = self._session.run(None, {self._input: features})
        return TurnVerdict(
            complete=float(np.asarray(probability).reshape(-1)[0]),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
