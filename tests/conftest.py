"""Shared fixtures. The socket guard below makes any non-loopback connection fail the test."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ceoline.config import Config, config_with, parse_config_file
from ceoline.persona.profile import Persona, load_persona
from ceoline.voice.audio import SAMPLE_RATE, read_wav
from ceoline.voice.stt import Transcript
from ceoline.voice.tts import Speech
from ceoline.voice.turn_model import TurnVerdict

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# The fixed lines' speech every test config keeps (see make_config).
SPEECH_CACHE = Path(tempfile.gettempdir()) / f"ceoline-tests-speech-{os.getuid()}"
REPO_CONFIG = ROOT / "configs" / "ceoline.toml"


class NetworkBlocked(AssertionError):
    pass


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to reach {address!r}; only loopback is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to reach {address!r}; only loopback is allowed")
    return _real_connect_ex(self, address)


def _guarded_sendto(self, data, *args):
    address = args[-1]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkBlocked(f"test tried to send to {address!r}; only loopback is allowed")
    return _real_sendto(self, data, *args)


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.socket.sendto = _guarded_sendto
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
    socket.socket.sendto = _real_sendto


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def make_config(tmp_path: Path, **sections: dict) -> Path:
    """A config file in tmp_path using the repository's models and persona, data in tmp_path.

    Keyword arguments override or add sections: ``make_config(p, vad={"aggressiveness": 3})``.
    """
    tables: dict[str, dict] = {
        "models": {"dir": str(ROOT / "models"), "manifest": str(ROOT / "models/manifest.toml")},
        "persona": {
            "file": str(ROOT / "configs" / "persona.toml"),
            "train": {
                "corpus": str(ROOT / "configs" / "persona" / "corpus.jsonl"),
                "heldout": str(ROOT / "configs" / "persona" / "heldout.jsonl"),
                "out": str(tmp_path / "persona-lora.gguf"),
            },
        },
        "knowledge": {"dir": str(ROOT / "configs" / "knowledge")},
        "insights": {"taxonomy": str(ROOT / "configs" / "taxonomy.toml")},
        # Tests serve their own dashboards on free ports; a server must not take 8080.
        "dashboard": {"enabled": False},
        "metrics": {"enabled": False},
        "store": {"data_dir": str(tmp_path / "data")},
        # One speech cache for the run: each test's server would otherwise synthesize the
        # same fixed lines at its start (tests/voice/test_speech_cache.py tests the cache).
        "tts": {"cache_dir": str(SPEECH_CACHE)},
    }
    arrays = {name: values for name, values in sections.items() if isinstance(values, list)}
    for name, values in sections.items():
        if name in arrays:
            continue
        table = tables.setdefault(name, {})
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(table.get(key), dict):
                table[key] = {**table[key], **value}
            else:
                table[key] = value
    lines = []
    for name, values in tables.items():
        lines += _toml_table(name, values)
    for name, entries in arrays.items():  # [[name]] arrays of tables
        for entry in entries:
            lines += [f"[[{name}]]", *(f"{k} = {json.dumps(v)}" for k, v in entry.items())]
    path = tmp_path / "ceoline.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml_table(name: str, values: dict) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for key, value in values.items():
        if isinstance(value, dict):
            lines += _toml_table(f"{name}.{key}", value)
    return lines


@pytest.fixture
def config(tmp_path) -> Config:
    return parse_config_file(make_config(tmp_path))


@pytest.fixture(scope="session")
def persona() -> Persona:
    return load_persona(ROOT / "configs" / "persona.toml")


@pytest.fixture(scope="session")
def engines(persona, tmp_path_factory):
    """The real embedded models, loaded once for the whole run."""
    from ceoline.engines import Engines

    base = tmp_path_factory.mktemp("engines")
    config = parse_config_file(make_config(base))
    return Engines.load(config).on_line()


@pytest.fixture(scope="session")
def question_pcm() -> np.ndarray:
    return read_wav(DATA / "question-mission.wav")


def speech_segment(seconds: float) -> np.ndarray:
    """Real speech (from the bundled sample), looped to the requested length."""
    pcm = read_wav(DATA / "question-mission.wav")
    voiced = pcm[SAMPLE_RATE : len(pcm) - SAMPLE_RATE]  # the sample has 1 s gaps around speech
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(voiced)))
    return np.tile(voiced, reps)[: int(seconds * SAMPLE_RATE)]


def babble(seconds: float) -> np.ndarray:
    """A voice-like signal no caller sample contains: broadband noise in syllable bursts.

    Not a tone: the echo canceller (rightly) cannot tell a pure tone's delay, and no voice
    is one. Not a caller recording either, or the canceller would take the caller's words
    for the bot's echo.
    """
    n = int(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(n)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * np.arange(n) / SAMPLE_RATE)
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    return np.clip(noise * envelope * 6000, -32768, 32767).astype(np.int16)


# -- scripted fakes for fast tests of conversation logic --------------------------------------


class FakeTranscriber:
    def __init__(self, text: str = "What is your mission?", delay_s: float = 0.05):
        self.text = text
        self.delay_s = delay_s
        self.calls = 0

    def transcribe(self, pcm) -> Transcript:
        self.calls += 1
        time.sleep(self.delay_s)
        return Transcript(self.text, len(pcm) / SAMPLE_RATE / 2, self.delay_s * 1000)


class FakeLanguageModel:
    def __init__(
        self,
        reply: str = "We help small businesses. Thanks for asking!",
        token_delay_s: float = 0.02,
    ):
        self.reply = reply
        self.token_delay_s = token_delay_s
        self.finished_at: list[float] = []
        self.seen: list = []
        self.starts: list[str] = []  # what each reply had already said when the model began
        self.yielded: list[int] = []  # tokens each stream produced before it ended

    def stream(self, messages, max_tokens=None, cancelled=lambda: False, reply_start=""):
        self.seen.append(messages)
        self.starts.append(reply_start)
        self.yielded.append(0)
        for word in self.reply.split(" "):
            time.sleep(self.token_delay_s)
            if cancelled():
                break
            self.yielded[-1] += 1
            yield word + " "
        self.finished_at.append(time.perf_counter())


class FakeTurnModel:
    """Judges every pause the same: ``complete`` is P(the caller has finished)."""

    def __init__(self, complete: float = 0.9, delay_s: float = 0.03):
        self.complete = complete
        self.delay_s = delay_s
        self.calls = 0

    def judge(self, pcm) -> TurnVerdict:
        self.calls += 1
        time.sleep(self.delay_s)
        return TurnVerdict(self.complete, self.delay_s * 1000)


class FakeSynthesizer:
    def __init__(self, seconds_per_word: float = 0.1):
        self.seconds_per_word = seconds_per_word
        self.texts: list[str] = []
        self.lock = threading.Lock()

    def synthesize(self, text: str) -> Speech:
        with self.lock:
            self.texts.append(text)
        return Speech(babble(len(text.split()) * self.seconds_per_word), 1.0)


@dataclass
class FakeStages:
    config: Config
    persona: Persona
    transcriber: FakeTranscriber = field(default_factory=FakeTranscriber)
    llm: FakeLanguageModel = field(default_factory=FakeLanguageModel)
    synthesizer: FakeSynthesizer = field(default_factory=FakeSynthesizer)
    # None: the fixed silence window, as with [turn] detector = "silence".
    turn_model: FakeTurnModel | None = None

    def cached_speech(self, text: str) -> np.ndarray:
        return self.synthesizer.synthesize(text).pcm


@pytest.fixture
def fake_stages(config, persona) -> FakeStages:
    return FakeStages(config_with(config, models={"verify": "doctor-only"}), persona)
