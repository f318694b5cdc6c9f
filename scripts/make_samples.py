"""Regenerate the caller WAVs in tests/data with the embedded Piper voice.

Each sample is a caller who waits a moment, asks one thing and stays on the line, at 22.05 kHz
stereo for the question sample so tests also cover resampling and downmixing.
Usage: .venv/bin/python scripts/make_samples.py
"""

from pathlib import Path

import numpy as np

from ceoline.config import load_config
from ceoline.engines import locate_all
from ceoline.voice.audio import SAMPLE_RATE, resample, to_float, to_int16
from ceoline.voice.tts import Synthesizer

# name: (text, seconds of silence before the caller speaks)
SAMPLES = {
    "question-mission.wav": ("What is the mission of your company?", 1.0),
    "question-founding.wav": ("When was Quillfern founded, and by whom?", 1.0),
    # `make run`'s demo caller waits for the greeting to finish, as a real caller does.
    "demo-call.wav": ("Hi Theo. How did Quillfern get started?", 7.0),
}
OUT = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    import soundfile

    config = load_config(Path("configs/ceoline.toml"))
    synthesizer = Synthesizer(locate_all(config)["tts"], config.tts, config.runtime)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (text, wait_s) in SAMPLES.items():
        speech = synthesizer.synthesize(text).pcm
        gap = np.zeros(SAMPLE_RATE, dtype=np.int16)
        pcm = np.concatenate([np.zeros(int(wait_s * SAMPLE_RATE), np.int16), speech, gap])
        # Stored at the voice's native 22.05 kHz in stereo: `ceoline call` must resample and
        # downmix whatever a caller recording arrives as.
        wide = resample(to_float(pcm), SAMPLE_RATE, 22050)
        stereo = np.stack([wide, wide * 0.8], axis=1)
        soundfile.write(str(OUT / name), to_int16(stereo), 22050, subtype="PCM_16")
        print(f"{OUT / name}: {text}")


if __name__ == "__main__":
    main()
