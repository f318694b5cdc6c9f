"""Load the models once (Whisper, the LLM, Piper, the turn model) and share them across calls
and lines; a call sees them through its line (:meth:`Engines.on_line`)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ceoline.config import ESPEAK_PREFIX, Config, base_language, config_with
from ceoline.errors import ModelError
from ceoline.inference.client import SharedLanguageModel
from ceoline.inference.service import InferenceService
from ceoline.lines import Line, Switchboard, load_lines
from ceoline.locator import HashCache, ModelFiles, locate, verify_models
from ceoline.persona.profile import Persona
from ceoline.trust.dialogue import fixed_replies
from ceoline.trust.knowledge import KnowledgeBase
from ceoline.trust.languages import Language, language_of
from ceoline.trust.names import use_vocabulary
from ceoline.voice.espeak import EspeakSynthesizer
from ceoline.voice.lifecycle import fixed_lines
from ceoline.voice.llm import LanguageModel, spoken_reply
from ceoline.voice.speech_cache import SpeechCache
from ceoline.voice.stt import Transcriber
from ceoline.voice.tts import Synthesizer
from ceoline.voice.turn_model import TurnModel
from ceoline.voice.turn_reader import TurnReader

log = logging.getLogger(__name__)

HASH_CACHE_NAME = ".model-hashes.json"


def locate_all(config: Config, merged: bool = True) -> dict[str, ModelFiles]:
    """Every model file in use: the three stages, the persona adapter when configured, the
    merged persona model calls load and the turn reader that reads it (``merged=False``:
    neither, for the command that builds the merged model)."""
    kinds = ["stt", "llm", "tts"]
    if config.turn.detector == "smart-turn":
        kinds.append("turn")
    if config.models.adapter:
        kinds.append("adapter")
        if merged and config.models.merged:
            kinds.append("merged")
    if merged and uses_turn_reader(config):
        kinds.append("turn_reader")
    return {kind: locate(kind, getattr(config.models, kind), config.models_dir) for kind in kinds}


def line_model_files(config: Config, lines) -> dict[tuple[str, str], ModelFiles]:
    """The Whisper models and Piper voices lines use beside [models] stt and tts, found (a
    missing one is refused with the fix) but not loaded."""
    files = {}
    for line in lines:
        if line.stt != config.models.stt:
            files["stt", line.stt] = locate("stt", line.stt, config.models_dir)
        if line.voice != config.models.tts and not line.voice.startswith(ESPEAK_PREFIX):
            files["tts", line.voice] = locate("tts", line.voice, config.models_dir)
    return files


def fitting_adapter(
    config: Config, models: dict[str, ModelFiles], cache: HashCache
) -> ModelFiles | None:
    """The configured persona adapter, once it is known to belong to the configured base."""
    adapter = models.get("adapter")
    if adapter is None:
        return None
    from ceoline.persona.lora_gguf import check_adapter_fits

    base = models["llm"]
    actual = cache.sha256(base.path)
    wanted = config.models.adapter_base_sha256
    if actual != wanted:
        raise ModelError(
            f"persona adapter {adapter.path.name} belongs to base {wanted[:12]} "
            f"([models] adapter_base_sha256) but [models] llm {base.path.name} is {actual[:12]}; "
            "train an adapter for this base with `ceoline persona train` or set [models] "
            'adapter = ""'
        )
    check_adapter_fits(adapter.path, base.path, wanted)
    return adapter


def fitting_merged(
    config: Config, models: dict[str, ModelFiles], cache: HashCache
) -> ModelFiles | None:
    """The merged persona model, once its header shows it was made from the configured base and
    adapter at the configured scale: a retrained adapter leaves a stale merge, refused here."""
    merged = models.get("merged")
    if merged is None:
        return None
    from ceoline.persona.merge import merged_from

    made = merged_from(merged.path)
    rebuild = (
        "rebuild it with `ceoline persona merge` (`make install` does), or set [models] "
        'merged = "" to apply the adapter at run time'
    )
    if made is None:
        raise ModelError(f"{merged.path} is not a merged persona model; {rebuild}")
    if made.base_sha256 != cache.sha256(models["llm"].path):
        raise ModelError(f"{merged.path.name} was merged into another base model; {rebuild}")
    if made.adapter_sha256 != cache.sha256(models["adapter"].path):
        raise ModelError(
            f"{merged.path.name} was merged from another adapter than "
            f"{models['adapter'].path.name} (retrained since?); {rebuild}"
        )
    if abs(made.scale - config.llm.adapter_scale) > 1e-6:
        raise ModelError(
            f"{merged.path.name} was merged at scale {made.scale:g} but [llm] adapter_scale is "
            f"{config.llm.adapter_scale:g}; merge at that scale (`ceoline persona merge --scale "
            f'{config.llm.adapter_scale:g}`) or set [models] merged = ""'
        )
    return merged


def reply_model(
    config: Config, models: dict[str, ModelFiles], cache: HashCache
) -> tuple[ModelFiles, ModelFiles | None]:
    """What the reply model loads: the merged persona model alone when there is one, else the
    base with the adapter applied at run time (or the base alone, without an adapter)."""
    adapter = fitting_adapter(config, models, cache)
    merged = fitting_merged(config, models, cache)
    if merged is not None:
        return merged, None
    return models["llm"], adapter


def uses_turn_reader(config: Config) -> bool:
    """The reader weighs the reply model's reading beside the turn model's verdicts: it is
    loaded only where both are in use."""
    return bool(
        config.models.turn_reader
        and config.turn.detector == "smart-turn"
        and config.turn.text_threshold > 0
    )


def fitting_reader(
    reader: ModelFiles, reply_files: ModelFiles, llm, cache: HashCache
) -> TurnReader:
    """The turn reader, once it is known to be trained on the reply model in use."""
    return TurnReader.load(reader.path, llm, cache.sha256(reply_files.path))


def start_inference(config: Config) -> InferenceService:
    """Start the shared inference service with the model calls would load, once it is known
    to be the right one (pins, merge and adapter checked as for a local load)."""
    models = locate_all(config)
    cache = HashCache(config.data_dir / HASH_CACHE_NAME)
    if config.models.verify == "on-load":
        llm_kinds = [m for k, m in models.items() if k in ("llm", "adapter", "merged")]
        verify_models(llm_kinds, config.path(config.models.manifest), cache)
    model, adapter = reply_model(config, models, cache)
    service = InferenceService(config, model, adapter)
    service.start()
    return service


# About 25 MB of audio at most: the fixed lines and every sentence of modest notes.
SPEECH_CACHE_LINES = 256


@dataclass
class Engines:
    """The shared models, and the lines they serve."""

    config: Config
    transcriber: Transcriber  # [models] stt
    llm: LanguageModel
    synthesizer: Synthesizer  # [models] tts
    load_ms: dict[str, float]
    lines: tuple[Line, ...] = ()
    turn_model: TurnModel | None = None
    turn_reader: TurnReader | None = None
    # Every Whisper and voice a line uses, by its [models] name, each loaded once.
    transcribers: dict[str, Transcriber] = field(default_factory=dict)
    voices: dict[str, Synthesizer | EspeakSynthesizer] = field(default_factory=dict)
    _speech_cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)
    # The same audio on disk, for the next process (see voice.speech_cache).
    kept_speech: SpeechCache = field(default_factory=lambda: SpeechCache(None))

    @classmethod
    def load(
        cls, config: Config, lines: tuple[Line, ...] | None = None, warm: bool = True
    ) -> Engines:
        """``lines``: those the config names (:func:`ceoline.lines.load_lines`) when None."""
        models = locate_all(config)
        cache = HashCache(config.data_dir / HASH_CACHE_NAME)
        if config.models.verify == "on-load":
            verify_models(list(models.values()), config.path(config.models.manifest), cache)
        # The notes are re-indexed here when they changed since the last start, and each
        # line's answers built once, so the first company question of a call does no indexing.
        lines = load_lines(config) if lines is None else lines
        own = line_model_files(config, lines)
        if config.models.verify == "on-load":
            verify_models(list(own.values()), config.path(config.models.manifest), cache)
        reply_files, adapter = reply_model(config, models, cache)
        load_ms: dict[str, float] = {}
        started = time.perf_counter()
        transcriber = Transcriber(models["stt"], config.stt, config.runtime)
        load_ms["stt"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        llm: LanguageModel | SharedLanguageModel
        if config.inference.mode == "shared":
            # The service loads the model (see start_inference); a worker keeps its vocabulary.
            llm = SharedLanguageModel(reply_files, config.llm, config.inference)
        else:
            llm = LanguageModel(reply_files, config.llm, config.runtime, adapter=adapter)
        load_ms["llm"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        synthesizer = Synthesizer(models["tts"], config.tts, config.runtime)
        load_ms["tts"] = (time.perf_counter() - started) * 1000
        engines = cls(config, transcriber, llm, synthesizer, load_ms, lines)
        engines.kept_speech = SpeechCache(config.speech_cache_dir)
        engines.transcribers[config.models.stt] = transcriber
        engines.voices[config.models.tts] = synthesizer
        engines._load_line_models(own)
        if "turn" in models:
            started = time.perf_counter()
            engines.turn_model = TurnModel(models["turn"], config.runtime)
            load_ms["turn"] = (time.perf_counter() - started) * 1000
        if "turn_reader" in models:
            engines.turn_reader = fitting_reader(models["turn_reader"], reply_files, llm, cache)
        use_vocabulary(transcriber.knows_whole)
        if warm:
            started = time.perf_counter()
            # One local context keeps one persona prompt's KV cache: the first line's is
            # warmed last, so it is the one kept; another line's first turn reads its own.
            for line in reversed(lines):
                persona, language = line.persona, language_of(line.language)
                if config.llm.speaks(line.language):
                    llm.warm(persona.system_prompt())
                for text in [*fixed_lines(persona, language), *fixed_replies(persona, language)]:
                    engines.cached_speech(text, line.voice)
            load_ms["warm"] = (time.perf_counter() - started) * 1000
        log.info("models loaded %s", {k: round(v) for k, v in load_ms.items()})
        return engines

    def _load_line_models(self, files: dict[tuple[str, str], ModelFiles]) -> None:
        """The Whispers and voices lines use beside [models] stt and tts, once each."""
        config = self.config
        for (kind, spec), model in files.items():
            started = time.perf_counter()
            if kind == "stt":
                self.transcribers[spec] = Transcriber(model, config.stt, config.runtime)
            else:
                self.voices[spec] = Synthesizer(model, config.tts, config.runtime)
            self.load_ms[f"{kind} {spec}"] = (time.perf_counter() - started) * 1000
        for line in self.lines:
            if line.voice.startswith(ESPEAK_PREFIX) and line.voice not in self.voices:
                self.voices[line.voice] = EspeakSynthesizer(line.voice.removeprefix(ESPEAK_PREFIX))
            if (
                base_language(line.language) != "en"
                and not self.transcribers[line.stt].multilingual
            ):
                raise ModelError(
                    f"line {line.name!r} speaks {line.language!r} but Whisper {line.stt!r} hears "
                    'English only; give the line a multilingual one (stt = "base")'
                )

    @cached_property
    def switchboard(self) -> Switchboard:
        """Built once: its number table is asked at every INVITE and every ``on_line``."""
        return Switchboard(self.lines)

    def on_line(self, line: Line | str | None = None) -> LineStages:
        """The shared models as a call on ``line`` uses them (a line, its name, or None for
        the first line)."""
        if not isinstance(line, Line):
            line = self.switchboard.named(line)
        return LineStages(self, line)

    def cached_speech(self, text: str, voice: str | None = None) -> np.ndarray:
        """Synthesize fixed lines (greeting, goodbye, refusals, sentences of the notes) once
        per process and voice ([models] tts when None), not once per call."""
        key = (voice or self.config.models.tts, text)
        with self._cache_lock:
            pcm = self._speech_cache.get(key)
        if pcm is None:
            synthesizer = self.voices.get(key[0], self.synthesizer)
            identity = getattr(synthesizer, "identity", None)
            pcm = self.kept_speech.get(identity, text) if identity else None
            if pcm is None:
                pcm = synthesizer.synthesize(text).pcm
                if identity:
                    self.kept_speech.put(identity, text, pcm)
            with self._cache_lock:
                if len(self._speech_cache) >= SPEECH_CACHE_LINES:
                    # Notes re-indexed while serving leave old sentences: drop the oldest.
                    self._speech_cache.pop(next(iter(self._speech_cache)))
                self._speech_cache[key] = pcm
        return pcm


@dataclass(frozen=True)
class LineTranscriber:
    """Whisper as a line hears with it: the line's model, told to expect the line's names in
    the line's language."""

    transcriber: Transcriber
    hotwords: str | None
    language: str = "en"

    def transcribe(self, pcm, use_hotwords: bool = True):
        """``use_hotwords=False`` transcribes without them (to measure what they are worth)."""
        hotwords = self.hotwords if use_hotwords else None
        return self.transcriber.transcribe(pcm, hotwords, self.language)

    def knows_whole(self, word: str) -> bool:
        return self.transcriber.knows_whole(word)


@dataclass(frozen=True)
class LineStages:
    """What a call on one line talks with (the ``Stages`` of ``voice.conversation``): the
    shared models, the line's persona and notes, and the config as the line changes it."""

    engines: Engines
    line: Line

    @cached_property
    def config(self) -> Config:
        config = self.engines.config
        handoff = {
            "uri": self.line.handoff_uri,
            "hours": self.line.handoff_hours,
            "timezone": self.line.timezone,
        }
        if any(getattr(config.handoff, key) != value for key, value in handoff.items()):
            config = config_with(config, handoff=handoff)
        return config

    @property
    def persona(self) -> Persona:
        return self.line.persona

    @property
    def knowledge(self) -> KnowledgeBase:
        return self.line.knowledge

    @property
    def language(self) -> Language:
        return language_of(self.line.language)

    @property
    def model_replies(self) -> bool:
        """The reply model speaks the line's language: it answers, and reads the caller's
        words for the end of the turn. Elsewhere the notes answer and feedback is kept."""
        return self.config.llm.speaks(self.line.language)

    @cached_property
    def transcriber(self) -> LineTranscriber:
        line = self.line
        transcriber = self.engines.transcribers.get(line.stt, self.engines.transcriber)
        return LineTranscriber(transcriber, line.hotwords, base_language(line.language))

    @property
    def llm(self):
        return self.engines.llm

    @property
    def synthesizer(self) -> Synthesizer | EspeakSynthesizer:
        return self.engines.voices.get(self.line.voice, self.engines.synthesizer)

    @property
    def turn_model(self) -> TurnModel | None:
        return self.engines.turn_model

    @property
    def turn_reader(self) -> TurnReader | None:
        return self.engines.turn_reader if self.model_replies else None

    def cached_speech(self, text: str) -> np.ndarray:
        return self.engines.cached_speech(text, self.line.voice)

    def spoken_pieces(self, user_content: str, reply_start: str = "") -> list[str]:
        """The pieces a call would speak for one model reply (see trust.guardrail_eval)."""
        return spoken_reply(
            self.llm, self.persona.system_prompt(), self.config.chunker, user_content, reply_start
        )
