import numpy as np
import pytest
import soundfile

from ceoline.errors import AudioInputError
from ceoline.voice.audio import FRAME_BYTES, SAMPLE_RATE, frames, read_wav, rms_dbfs, write_wav


def test_any_rate_and_channels_become_16k_mono(tmp_path):
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "st.wav"
    soundfile.write(
        str(path), np.stack([tone, tone], axis=1).astype(np.float32), 44100, subtype="FLOAT"
    )
    pcm = read_wav(path)
    assert pcm.dtype == np.int16 and abs(len(pcm) - SAMPLE_RATE) <= 2
    assert 0.3 < np.abs(pcm).max() / 32768 < 0.6


def test_round_trip(tmp_path):
    pcm = (np.sin(np.arange(16000) * 0.1) * 1000).astype(np.int16)
    write_wav(tmp_path / "a.wav", pcm)
    assert np.array_equal(read_wav(tmp_path / "a.wav"), pcm)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), r"file is empty \(0 bytes\)"),
        (lambda p: p.write_bytes(b"this is not audio at all" * 40), "not a readable WAV"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "in.wav"
    make(path)
    with pytest.raises(AudioInputError, match=message) as info:
        read_wav(path)
    assert "\n" not in str(info.value)


def test_other_formats_are_refused(tmp_path):
    path = tmp_path / "in.flac"
    soundfile.write(str(path), np.zeros(1600, dtype=np.int16), 16000, format="FLAC")
    with pytest.raises(AudioInputError, match="is FLAC, not WAV"):
        read_wav(path)


def test_long_files_are_refused_before_decoding(tmp_path):
    path = tmp_path / "long.wav"
    write_wav(path, np.zeros(SAMPLE_RATE * 600, dtype=np.int16))
    with pytest.raises(AudioInputError, match=r"lasts 600.0 s.*max_input_s"):
        read_wav(path, max_seconds=300)


def test_frames_pad_the_last_one():
    out = frames(np.ones(500, dtype=np.int16))
    assert len(out) == 2 and all(len(f) == FRAME_BYTES for f in out)


def test_rms_dbfs():
    assert rms_dbfs(bytes(FRAME_BYTES)) < -100
    loud = (np.ones(320) * 16384).astype(np.int16).tobytes()
    assert abs(rms_dbfs(loud) - (-6.0)) < 0.1
