"""The fixed lines' speech kept on disk: a restarted process reads it instead of Piper."""

import os

import numpy as np

from ceoline.config import Config, TtsConfig
from ceoline.engines import Engines
from ceoline.voice import speech_cache
from ceoline.voice.speech_cache import SpeechCache

from ..conftest import FakeSynthesizer


def test_speech_is_kept_by_voice_and_text(tmp_path):
    cache = SpeechCache(tmp_path / "speech")
    pcm = np.arange(-500, 500, dtype=np.int16)
    cache.put("piper|a", "Hello.", pcm)
    assert np.array_equal(cache.get("piper|a", "Hello."), pcm)
    assert cache.get("piper|b", "Hello.") is None and cache.get("piper|a", "Hi.") is None
    assert SpeechCache(None).get("piper|a", "Hello.") is None


def test_a_torn_file_is_synthesized_again(tmp_path):
    cache = SpeechCache(tmp_path)
    cache.put("v", "Hello.", np.ones(10, np.int16))
    (kept,) = tmp_path.glob("*.pcm")
    kept.write_bytes(kept.read_bytes()[:7])
    assert cache.get("v", "Hello.") is None and not kept.exists()


def test_a_full_disk_never_stops_a_call(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = SpeechCache(tmp_path)
    monkeypatch.setattr(Path, "write_bytes", full)
    cache.put("v", "Hello.", np.ones(10, np.int16))
    assert cache.directory is None and cache.get("v", "Hello.") is None
    assert not list(tmp_path.iterdir())


def test_a_missing_directory_that_cannot_be_made_turns_the_cache_off(tmp_path):
    (tmp_path / "file").write_text("")
    cache = SpeechCache(tmp_path / "file" / "speech")
    assert cache.directory is None
    cache.put("v", "Hello.", np.ones(10, np.int16))


def test_the_oldest_files_go_first(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_cache, "MAX_FILES", 3)
    cache = SpeechCache(tmp_path)
    for n in range(5):
        cache.put("v", f"line {n}", np.full(4, n, np.int16))
        (newest,) = [p for p in tmp_path.glob("*.pcm") if os.stat(p).st_mtime_ns > 10**12]
        os.utime(newest, ns=(n, n))
    assert len(list(tmp_path.glob("*.pcm"))) == 3
    assert cache.get("v", "line 0") is None and cache.get("v", "line 4") is not None


class _Voice(FakeSynthesizer):
    def __init__(self, identity: str):
        super().__init__()
        self.identity = identity


def test_a_restarted_process_reads_the_fixed_lines_instead_of_synthesizing_them(tmp_path):
    def start(voice: _Voice) -> Engines:
        engines = Engines(Config(), None, None, voice, {})
        engines.kept_speech = SpeechCache(tmp_path)
        return engines

    first = _Voice("piper|joe|length 1.0")
    heard = start(first).cached_speech("Hi, this is an AI version of Theo.")
    assert first.texts == ["Hi, this is an AI version of Theo."]
    again = _Voice("piper|joe|length 1.0")
    assert np.array_equal(start(again).cached_speech("Hi, this is an AI version of Theo."), heard)
    assert again.texts == []
    # Another voice, or the same one set to speak slower, is synthesized afresh.
    slower = _Voice("piper|joe|length 1.2")
    start(slower).cached_speech("Hi, this is an AI version of Theo.")
    assert slower.texts == ["Hi, this is an AI version of Theo."]


def test_a_piper_voices_identity_follows_its_settings():
    from ceoline.config import parse_config_file
    from ceoline.engines import locate_all
    from ceoline.voice.tts import Synthesizer

    from ..conftest import REPO_CONFIG

    config = parse_config_file(REPO_CONFIG)
    model = locate_all(config)["tts"]
    same = Synthesizer(model, config.tts, config.runtime).identity
    assert same == Synthesizer(model, config.tts, config.runtime).identity
    slower = Synthesizer(model, TtsConfig(length_scale=1.2), config.runtime).identity
    assert slower != same and str(model.path.resolve()) in same


def test_the_cache_is_in_the_data_dir_unless_set_or_off(tmp_path):
    from ceoline.config import config_with

    config = config_with(Config(), store={"data_dir": str(tmp_path)})
    assert config.speech_cache_dir == tmp_path / "speech-cache"
    assert config_with(config, tts={"cache_dir": "off"}).speech_cache_dir is None
