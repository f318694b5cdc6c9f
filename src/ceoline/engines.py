"""Load the models once (Whisper, the LLM, Piper, the turn model) and share them across calls
and lines; a call sees them through its line (:meth:`Engines.on_line`)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ceoline.config import Config, config_with
from ceoline.errors import ModelError
from ceoline.inference.client import SharedLanguageModel
from ceoline.inference.service import InferenceService
from ceoline.lines import Line, Switchboard, load_lines
from ceoline.locator import HashCache, ModelFiles, locate, verify_models
from ceoline.persona.profile import Persona
from ceoline.trust.dialogue import fixed_replies
from ceoline.trust.knowledge import KnowledgeBase
from ceoline.trust.names import use_vocabulary
from ceoline.voice.lifecycle import fixed_lines
from ceoline.voice.llm import LanguageModel, spoken_reply
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


def model_less_lines(config: Config) -> list[str]:
    """What a reply says when the model could not write one; with a shared service that may
    be down, said often enough to synthesize ahead."""
    from ceoline.voice.reply_writer import FALLBACK_REPLY, NOTED_REPLY

    return [FALLBACK_REPLY, NOTED_REPLY] if config.inference.mode == "shared" else []


# About 25 MB of audio at most: the fixed lines and every sentence of modest notes.
SPEECH_CACHE_LINES = 256


@dataclass
class Engines:
    """The shared models, and the lines they serve."""

    config: Config
    transcriber: Transcriber
    llm: LanguageModel
    synthesizer: Synthesizer
    load_ms: dict[str, float]
    lines: tuple[Line, ...] = ()
    turn_model: TurnModel | None = None
    turn_reader: TurnReader | None = None
    _speech_cache: dict[str, np.ndarray] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

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
        if "turn" in models:
            started = time.perf_counter()
            engines.turn_model = TurnModel(models["turn"], config.runtime)
            load_ms["turn"] = (time.perf_counter() - started) * 1000
        if "turn_reader" in models:
            engines.turn_reader = fitting_reader(models["turn_reader"], reply_files, llm, cache)
        use_vocabulary(transcriber.knows_whole)
        if warm:
            started = time.perf_counter()
            for line in lines:
                llm.warm(line.persona.system_prompt())
                persona = line.persona
                for text in [*fixed_lines(persona), *fixed_replies(persona)]:
                    engines.cached_speech(text)
            for text in model_less_lines(config):
                engines.cached_speech(text)
            load_ms["warm"] = (time.perf_counter() - started) * 1000
        log.info("models loaded %s", {k: round(v) for k, v in load_ms.items()})
        return engines

    @property
    def switchboard(self) -> Switchboard:
        return Switchboard(self.lines)

    def on_line(self, line: Line | str | None = None) -> LineStages:
        """The shared models as a call on ``line`` uses them (a line, its name, or None for
        the first line)."""
        if not isinstance(line, Line):
            line = self.switchboard.named(line)
        return LineStages(self, line)

    def cached_speech(self, text: str) -> np.ndarray:
        """Synthesize fixed lines (greeting, goodbye, refusals, sentences of the notes) once
        per process, not once per call."""
        with self._cache_lock:
            pcm = self._speech_cache.get(text)
        if pcm is None:
            pcm = self.synthesizer.synthesize(text).pcm
            with self._cache_lock:
                if len(self._speech_cache) >= SPEECH_CACHE_LINES:
                    # Notes re-indexed while serving leave old sentences: drop the oldest.
                    self._speech_cache.pop(next(iter(self._speech_cache)))
                self._speech_cache[text] = pcm
        return pcm


@dataclass(frozen=True)
class LineTranscriber:
    """Whisper as a line hears with it: told to expect that line's names."""

    transcriber: Transcriber
    hotwords: str | None

    def transcribe(self, pcm, use_hotwords: bool = True):
        """``use_hotwords=False`` transcribes without them (to measure what they are worth)."""
        return self.transcriber.transcribe(pcm, self.hotwords if use_hotwords else None)

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
        if self.line.handoff_uri != config.handoff.uri:
            config = config_with(config, handoff={"uri": self.line.handoff_uri})
        return config

    @property
    def persona(self) -> Persona:
        return self.line.persona

    @property
    def knowledge(self) -> KnowledgeBase:
        return self.line.knowledge

    @cached_property
    def transcriber(self) -> LineTranscriber:
        return LineTranscriber(self.engines.transcriber, self.line.hotwords)

    @property
    def llm(self):
        return self.engines.llm

    @property
    def synthesizer(self) -> Synthesizer:
        return self.engines.synthesizer

    @property
    def turn_model(self) -> TurnModel | None:
        return self.engines.turn_model

    @property
    def turn_reader(self) -> TurnReader | None:
        return self.engines.turn_reader

    def cached_speech(self, text: str) -> np.ndarray:
        return self.engines.cached_speech(text)

    def spoken_pieces(self, user_content: str, reply_start: str = "") -> list[str]:
        """The pieces a call would speak for one model reply (see trust.guardrail_eval)."""
        return spoken_reply(
            self.llm, self.persona.system_prompt(), self.config.chunker, user_content, reply_start
        )
