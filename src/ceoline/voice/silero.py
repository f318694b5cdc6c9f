"""Silero VAD v5 (MIT), the ONNX weights that ship in the ``pipecat-ai`` wheel, as a frame
classifier beside webrtcvad (``[vad] engine = "silero"``).

The model reads 512-sample windows (32 ms at 16 kHz) with the previous window's last 64
samples in front, and carries a recurrent state; call frames are 20 ms, so samples are
buffered and each frame is judged by the newest window's probability. pipecat's own wrapper
is not importable without pipecat's audio extras (``loudness`` and more), hence this one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ceoline.errors import ModelError
from ceoline.locator import package_dir
from ceoline.voice.audio import SAMPLE_RATE

WINDOW = 512
CONTEXT = 64


def bundled_model() -> Path:
    # The same wheel as the turn model's: the locator finds it, or says how to install it.
    path = package_dir("turn") / "audio" / "vad" / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ModelError(f"Silero VAD model not found: {path}; run make install")
    return path


class SileroFrames:
    """Speech probability per 20 ms frame, one instance per call (the model has state)."""

    _session = None

    def __init__(self):
        if SileroFrames._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            SileroFrames._session = ort.InferenceSession(
                str(bundled_model()), sess_options=options, providers=["CPUExecutionProvider"]
            )
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.probability = 0.0

    def push(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32) / 32768.0
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            x = np.concatenate([self._context, window[np.newaxis]], axis=1)
            out, self._state = self._session.run(
                None, {"input": x, "state": self._state, "sr": np.array(SAMPLE_RATE)}
            )
            self._context = x[:, -CONTEXT:]
            self.probability = float(out[0][0])
        return self.probability
