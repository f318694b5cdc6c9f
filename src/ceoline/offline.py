"""Keep every model library from reaching the network.

faster-whisper and huggingface_hub read these variables at import time, so they must be set
before those libraries are imported; the package's ``__init__`` calls :func:`enforce` first.
"""

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def enforce() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
