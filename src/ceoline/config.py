"""Configuration: ``configs/ceoline.toml`` loaded into frozen dataclasses.

Every key is checked: an unknown key or a bad value raises :class:`ConfigError` naming the
file, the key and what is allowed. Relative paths resolve against the config file's directory,
so a service started from any working directory reads the same files.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ceoline.errors import ConfigError
from ceoline.hours import parse_hours

CONFIG_ENV = "CEOLINE_CONFIG"
DEFAULT_CONFIG = Path("configs/ceoline.toml")


def _opt(
    default: Any,
    *,
    choices: tuple | None = None,
    lo: float | None = None,
    hi: float | None = None,
    doc: str = "",
) -> Any:
    return field(default=default, metadata={"choices": choices, "lo": lo, "hi": hi, "doc": doc})


# The embedded SmolLM2 GGUF: the base the shipped persona adapter was trained on.
EMBEDDED_LLM_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RuntimeConfig:
    device: str = _opt("cpu", choices=("cpu", "cuda"))
    # 0: half the usable cores for each stage (see stage_threads).
    threads: int = _opt(0, lo=0, hi=256)

    @property
    def stage_threads(self) -> int:
        """Threads for one inference stage (Whisper, llama.cpp, Piper) in a live call.

        The stages overlap in a turn (Piper voices the first clause while llama.cpp writes the
        next; Whisper's early pass meets a prepared reply), and llama.cpp's and CTranslate2's
        workers spin at barriers: two stages that each take every core slow each other several
        times over. On 2 cores, llama.cpp wrote 46 tokens in 0.58 s alone and in 2.4-3.5 s
        beside Piper with 2 threads each, 0.8 s with one thread each.
        """
        return self.threads or max(1, usable_cpus() // 2)

    @property
    def all_threads(self) -> int:
        """Threads for work that runs alone (training, a build benchmark)."""
        return self.threads or usable_cpus()


@dataclass(frozen=True)
class ModelsConfig:
    dir: str = _opt("../models")
    manifest: str = _opt("../models/manifest.toml")
    stt: str = _opt("embedded")
    llm: str = _opt("embedded")
    tts: str = _opt("embedded")
    turn: str = _opt("embedded")
    verify: str = _opt("on-load", choices=("on-load", "doctor-only"))
    # The persona LoRA and the sha256 of the one base GGUF it was trained on.
    adapter: str = _opt("persona-lora.gguf")
    adapter_base_sha256: str = _opt(EMBEDDED_LLM_SHA256)
    # The adapter folded into the base's weights (`make install` builds it): what calls load
    # when an adapter is set. "" applies the adapter at run time instead.
    merged: str = _opt("persona-merged.gguf")
    # The trained end-of-turn reader over the reply model's reading of the words (`ceoline
    # turn train`), for the model it was trained on. "" leaves statements to Smart Turn.
    turn_reader: str = _opt("turn-reader.json")


@dataclass(frozen=True)
class SttConfig:
    language: str = _opt("en")
    beam_size: int = _opt(1, lo=1, hi=10)
    compute_type: str = _opt(
        "auto", choices=("auto", "int8", "int8_float16", "int8_float32", "float16", "float32")
    )
    prefetch_ms: int = _opt(160, lo=0, hi=5000)
    no_speech_threshold: float = _opt(0.6, lo=0.0, hi=1.0)
    hotwords: str = _opt("auto")
    window_s: int = _opt(12, lo=0, hi=30)


@dataclass(frozen=True)
class LlmConfig:
    context_tokens: int = _opt(2048, lo=256, hi=131072)
    max_reply_tokens: int = _opt(60, lo=8, hi=2048)
    max_sentences: int = _opt(3, lo=1, hi=50)
    temperature: float = _opt(0.4, lo=0.0, hi=2.0)
    top_p: float = _opt(0.9, lo=0.0, hi=1.0)
    repeat_penalty: float = _opt(1.1, lo=1.0, hi=2.0)
    gpu_layers: int = _opt(-1, lo=-1, hi=1000)
    history_turns: int = _opt(8, lo=0, hi=100)
    seed: int = _opt(7, lo=0, hi=2**31 - 1)
    adapter_scale: float = _opt(1.0, lo=0.0, hi=4.0)
    # The languages the reply model speaks (the embedded SmolLM2: English only). A line in
    # another language answers from its notes and keeps the rest, with no model reply.
    languages: tuple[str, ...] = _opt(("en",))

    def speaks(self, language: str) -> bool:
        """The reply model speaks ``language`` (or the language a regional variant such as
        "en-gb" is of): it may answer, and read words, in it."""
        return language in self.languages or base_language(language) in self.languages


@dataclass(frozen=True)
class TtsConfig:
    length_scale: float = _opt(1.0, lo=0.3, hi=3.0)
    noise_scale: float = _opt(0.667, lo=0.0, hi=2.0)
    noise_w_scale: float = _opt(0.8, lo=0.0, hi=2.0)
    volume: float = _opt(1.0, lo=0.0, hi=4.0)
    # Where the fixed lines' speech is kept across restarts (empty: data_dir/speech-cache;
    # "off": synthesized at every start). Only the hotline's own words, never a caller's.
    cache_dir: str = _opt("")


@dataclass(frozen=True)
class VadConfig:
    engine: str = _opt("webrtc", choices=("webrtc", "silero"))
    silero_threshold: float = _opt(0.5, lo=0.0, hi=1.0)
    aggressiveness: int = _opt(2, choices=(0, 1, 2, 3))
    min_speech_ms: int = _opt(200, lo=20, hi=5000)
    end_of_turn_ms: int = _opt(500, lo=100, hi=5000)
    preroll_ms: int = _opt(300, lo=0, hi=2000)
    max_turn_ms: int = _opt(30000, lo=1000, hi=600000)
    min_energy_dbfs: float = _opt(-50.0, lo=-120.0, hi=0.0)
    unfinished_extra_ms: int = _opt(700, lo=0, hi=5000)


@dataclass(frozen=True)
class TurnConfig:
    detector: str = _opt("smart-turn", choices=("smart-turn", "silence"))
    pause_ms: int = _opt(120, lo=60, hi=2000)
    threshold: float = _opt(0.5, lo=0.0, hi=1.0)
    statement_threshold: float = _opt(0.9, lo=0.0, hi=1.0)
    statement_ms: int = _opt(800, lo=0, hi=10000)
    recheck_ms: int = _opt(300, lo=60, hi=5000)
    fallback_ms: int = _opt(1200, lo=200, hi=10000)
    text_threshold: float = _opt(0.005, lo=0.0, hi=1.0)
    reader_threshold: float = _opt(0.25, lo=0.0, hi=1.0)
    reader_verdict: float = _opt(0.8, lo=0.0, hi=1.0)
    reader_floor: float = _opt(0.05, lo=0.0, hi=1.0)
    reader_wait_ms: int = _opt(300, lo=0, hi=10000)
    reader_alone: float = _opt(0.4, lo=0.0, hi=1.0)
    speculative: bool = _opt(True)


@dataclass(frozen=True)
class BargeInConfig:
    enabled: bool = _opt(True)
    stop_after_ms: int = _opt(120, lo=20, hi=2000)
    confirm_ms: int = _opt(800, lo=100, hi=5000)
    resume_after_ms: int = _opt(500, lo=40, hi=5000)
    min_energy_dbfs: float = _opt(-40.0, lo=-120.0, hi=0.0)


@dataclass(frozen=True)
class EchoConfig:
    canceller: str = _opt("webrtc", choices=("webrtc", "off"))
    noise_suppression: bool = _opt(False)


@dataclass(frozen=True)
class HandoffConfig:
    uri: str = _opt("")
    dtmf: str = _opt("0")
    offer_after_misunderstandings: int = _opt(2, lo=1, hi=10)
    # When someone is there to take a transfer ("mon-fri 08:00-17:00; sat 10:00-14:00"), in
    # `timezone`; outside them the caller is offered a message instead. Empty: always.
    hours: str = _opt("")
    timezone: str = _opt("UTC")


@dataclass(frozen=True)
class InsightsConfig:
    enabled: bool = _opt(True)
    taxonomy: str = _opt("taxonomy.toml")
    use_model: bool = _opt(True)
    threads: int = _opt(1, lo=1, hi=256)
    max_tokens: int = _opt(400, lo=50, hi=4000)


@dataclass(frozen=True)
class WebhookConfig:
    """One destination for events: where, how signed, in which format, and what it gets."""

    name: str = _opt("")
    url: str = _opt("")
    # One line: whsec_<base64>, as Standard Webhooks defines; never the secret itself here.
    secret_file: str = _opt("")
    events: tuple[str, ...] = _opt(("item.created",))
    format: str = _opt("standard", choices=("standard", "chat", "gitlab"))
    min_urgency: str = _opt("low", choices=("low", "normal", "high"))
    types: tuple[str, ...] = _opt(())
    areas: tuple[str, ...] = _opt(())
    # Only calls on these lines ([[lines]] names; [] = all); theme events span lines.
    lines: tuple[str, ...] = _opt(())
    timeout_s: float = _opt(5.0, lo=0.5, hi=60.0)
    # For format = "gitlab": the project's issues API takes a token, read from this file.
    token_file: str = _opt("")


@dataclass(frozen=True)
class DashboardConfig:
    enabled: bool = _opt(True)
    host: str = _opt("127.0.0.1")
    port: int = _opt(8080, lo=1, hi=65535)


@dataclass(frozen=True)
class RetentionConfig:
    days: int = _opt(90, lo=1, hi=36500)
    daily: bool = _opt(True)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = _opt(True)
    host: str = _opt("127.0.0.1")
    port: int = _opt(9464, lo=1, hi=65535)


@dataclass(frozen=True)
class ClusterConfig:
    box: str = _opt("")
    workers: int = _opt(1, lo=1, hi=64)
    worker_port: int = _opt(5070, lo=1025, hi=65000)
    probe_interval_s: int = _opt(2, lo=1, hi=60)
    kamailio: str = _opt("kamailio")
    restart_backoff_max_s: int = _opt(30, lo=1, hi=600)


@dataclass(frozen=True)
class InferenceConfig:
    mode: str = _opt("local", choices=("local", "shared"))
    server: str = _opt("llama-server")
    port: int = _opt(8091, lo=1025, hi=65000)
    parallel: int = _opt(4, lo=1, hi=256)
    connect_timeout_ms: int = _opt(300, lo=20, hi=10000)
    start_timeout_s: int = _opt(120, lo=5, hi=3600)
    restart_backoff_max_s: int = _opt(30, lo=1, hi=600)


@dataclass(frozen=True)
class ChunkerConfig:
    first_chunk_min_words: int = _opt(3, lo=1, hi=50)
    min_words: int = _opt(6, lo=1, hi=100)
    max_words: int = _opt(28, lo=2, hi=200)


@dataclass(frozen=True)
class CallConfig:
    max_duration_s: int = _opt(900, lo=10, hi=86400)
    max_input_s: int = _opt(300, lo=1, hi=86400)
    reply_wait_s: int = _opt(60, lo=1, hi=3600)
    silence_prompt_s: int = _opt(10, lo=0, hi=3600)
    silence_timeout_s: int = _opt(20, lo=2, hi=3600)
    shutdown_grace_s: int = _opt(10, lo=0, hi=300)


@dataclass(frozen=True)
class RegistrationConfig:
    registrar: str = _opt("")
    user: str = _opt("")
    domain: str = _opt("")
    realm: str = _opt("*")
    password_env: str = _opt("CEOLINE_SIP_PASSWORD")
    password_file: str = _opt("")
    expires_s: int = _opt(300, lo=60, hi=86400)


@dataclass(frozen=True)
class SipConfig:
    address: str = _opt("127.0.0.1")
    port: int = _opt(5060, lo=1, hi=65535)
    udp: bool = _opt(True)
    tcp: bool = _opt(True)
    media_address: str = _opt("")
    rtp_port: int = _opt(40000, lo=1024, hi=65000)
    rtp_port_range: int = _opt(1000, lo=4, hi=30000)
    codecs: tuple[str, ...] = _opt(("G722/16000", "PCMU/8000", "PCMA/8000"))
    jitter_buffer_max_ms: int = _opt(200, lo=40, hi=1000)
    allow: tuple[str, ...] = _opt(("127.0.0.0/8",))
    reject: str = _opt("silence", choices=("silence", "403"))
    max_calls: int = _opt(4, lo=1, hi=1000)
    retry_after_s: int = _opt(30, lo=1, hi=3600)
    answer_delay_ms: int = _opt(0, lo=0, hi=30000)
    ack_wait_s: float = _opt(4.0, lo=0.5, hi=32.0)
    user_agent: str = _opt("ceoline")
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)

    @property
    def rtp_address(self) -> str:
        return self.media_address or self.address


@dataclass(frozen=True)
class StoreConfig:
    data_dir: str = _opt("../data")


@dataclass(frozen=True)
class PersonaTrainConfig:
    corpus: str = _opt("persona/corpus.jsonl")
    heldout: str = _opt("persona/heldout.jsonl")
    out: str = _opt("../models/persona-lora.gguf")
    target_modules: tuple[str, ...] = _opt(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    )
    rank: int = _opt(8, lo=1, hi=256)
    alpha: float = _opt(16.0, lo=0.01, hi=1024.0)
    dropout: float = _opt(0.05, lo=0.0, hi=0.9)
    epochs: int = _opt(1, lo=1, hi=100)
    learning_rate: float = _opt(0.002, lo=1e-7, hi=1.0)
    seed: int = _opt(7, lo=0, hi=2**31 - 1)
    max_tokens: int = _opt(768, lo=32, hi=8192)


@dataclass(frozen=True)
class PersonaRef:
    file: str = _opt("persona.toml")
    train: PersonaTrainConfig = field(default_factory=PersonaTrainConfig)


@dataclass(frozen=True)
class KnowledgeConfig:
    dir: str = _opt("knowledge")
    max_passages: int = _opt(2, lo=0, hi=10)
    min_score: float = _opt(1.5, lo=0.0, hi=100.0)
    max_sentences: int = _opt(2, lo=0, hi=20)


# A line's voice that is espeak-ng's, not a Piper model.
ESPEAK_PREFIX = "espeak-ng:"
# Languages a line may speak, by name: each has a table of fixed lines and word rules
# (ceoline.trust.languages). A regional variant ("en-gb") differs from its language in what
# it says (the disclosure a market's law asks for); Whisper, the reply model and the word
# rules take it as its language.
LANGUAGE_NAMES = {"en": "English", "en-gb": "British English", "sv": "Swedish"}
LINE_LANGUAGES = tuple(LANGUAGE_NAMES)


def base_language(code: str) -> str:
    """ "en-gb" → "en": the language Whisper is told and a quote's language is judged by."""
    return code.split("-", 1)[0]


@dataclass(frozen=True)
class LineConfig:
    """One dialed number: who answers it, from which notes, in which language."""

    name: str = _opt("")
    # The Request-URI's user part a call to this line carries (sip:NUMBER@box).
    number: str = _opt("")
    # Numbers a trunk may put in the Request-URI or To header instead (E.164 "+46…").
    dids: tuple[str, ...] = _opt(())
    # Empty: the [persona] file and the [knowledge] dir.
    persona: str = _opt("")
    knowledge: str = _opt("")
    # The line's own notes are read with the company's ([knowledge] dir) as well: a market's
    # prices and regulators on top of the company's history.
    company_notes: bool = _opt(False)
    language: str = _opt("en", choices=LINE_LANGUAGES)
    # Empty: [models] stt. Another Whisper, as [models] stt names one ("base", multilingual).
    stt: str = _opt("")
    # Empty: [models] tts. Another Piper voice, as [models] tts names one, or
    # "espeak-ng:VOICE" (espeak-ng's own voices, e.g. "espeak-ng:sv").
    voice: str = _opt("")
    # Empty: [handoff] uri.
    handoff_uri: str = _opt("")
    # Empty: [handoff] hours and timezone.
    handoff_hours: str = _opt("")
    timezone: str = _opt("")


@dataclass(frozen=True)
class Config:
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    bargein: BargeInConfig = field(default_factory=BargeInConfig)
    echo: EchoConfig = field(default_factory=EchoConfig)
    handoff: HandoffConfig = field(default_factory=HandoffConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    webhooks: tuple[WebhookConfig, ...] = field(default_factory=tuple)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    chunker: ChunkerConfig = field(default_factory=ChunkerConfig)
    call: CallConfig = field(default_factory=CallConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    persona: PersonaRef = field(default_factory=PersonaRef)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    lines: tuple[LineConfig, ...] = field(default_factory=tuple)
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    source: str = field(default="<built-in defaults>", metadata={"internal": True})

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the config file's directory."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def data_dir(self) -> Path:
        return self.path(self.store.data_dir)

    @property
    def speech_cache_dir(self) -> Path | None:
        setting = self.tts.cache_dir.strip()
        if setting == "off":
            return None
        return self.path(setting) if setting else self.data_dir / "speech-cache"

    @property
    def models_dir(self) -> Path:
        return self.path(self.models.dir)

    @property
    def persona_file(self) -> Path:
        return self.path(self.persona.file)

    @property
    def knowledge_dir(self) -> Path:
        return self.path(self.knowledge.dir)


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp)
    )


def _check_value(source: str, key: str, value: Any, tp: Any, meta: dict) -> Any:
    choices = meta.get("choices")
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{source}: {key} = {value!r} is not valid; expected a list of strings"
            )
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok_type = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
    if not ok_type:
        allowed = f"one of {', '.join(map(repr, choices))}" if choices else _type_name(tp)
        raise ConfigError(f"{source}: {key} = {value!r} is not valid; expected {allowed}")
    if choices is not None and value not in choices:
        raise ConfigError(
            f"{source}: {key} = {value!r} is not allowed; choose one of "
            f"{', '.join(map(repr, choices))}"
        )
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{source}: {key} = {value!r} is out of range; allowed {lo} to {hi}")
    return value


# Keys that once existed, and what replaced them, so an old config gets told what to change.
_REMOVED_KEYS = {
    "bargein.echo_margin_db": "echo is now cancelled, not gated: delete it and see [echo]",
    "bargein.echo_window_ms": "echo is now cancelled, not gated: delete it and see [echo]",
}


def _unknown_key(source: str, key: str, known: list[str]) -> ConfigError:
    if key in _REMOVED_KEYS:
        return ConfigError(f"{source}: '{key}' is no longer a setting; {_REMOVED_KEYS[key]}")
    if "password" in key.rsplit(".", 1)[-1].lower():
        return ConfigError(
            f"{source}: '{key}' is not allowed: secrets never go in the config file; set "
            "password_env (an environment variable) or password_file instead"
        )
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ConfigError(
        f"{source}: unknown key '{key}'; {hint}allowed keys: {', '.join(sorted(known))}"
    )


def _build(cls: type, table: dict, source: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise _unknown_key(source, dotted, list(fields))
        tp = hints[key]
        args = typing.get_args(tp)
        if typing.get_origin(tp) is tuple and args and dataclasses.is_dataclass(args[0]):
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{source}: [[{dotted}]] must be a list of tables")
            kwargs[key] = tuple(
                _build(args[0], v, source, f"{dotted}[{n}].") for n, v in enumerate(value)
            )
        elif dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: [{dotted}] must be a table (a [section])")
            kwargs[key] = _build(tp, value, source, f"{dotted}.")
        else:
            kwargs[key] = _check_value(source, dotted, value, tp, dict(fields[key].metadata))
    return cls(**kwargs)


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The config in force: ``--config``, then ``$CEOLINE_CONFIG``, then ./configs/ceoline.toml."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_config(path: Path | None = None) -> Config:
    chosen = find_config_file(path)
    if chosen is None:
        raise ConfigError(
            "no config file found; pass --config FILE, set CEOLINE_CONFIG, or run from the "
            "project root where configs/ceoline.toml lives"
        )
    return parse_config_file(chosen)


def parse_config_file(path: Path) -> Config:
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: config file not found; check the path given by --config or {CONFIG_ENV}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file ({exc.strerror})") from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML ({exc}); fix the syntax there") from None
    config = _build(Config, table, source, "")
    _check_sip(config.sip, source)
    _check_cluster(config, source)
    _check_adapter(config.models, source)
    _check_webhooks(config.webhooks, source)
    _check_lines(config.lines, source)
    _check_hours("[handoff]", config.handoff.hours, config.handoff.timezone, source)
    for line in config.lines:
        _check_hours(
            f"[[lines]] {line.name}",
            line.handoff_hours or config.handoff.hours,
            line.timezone or config.handoff.timezone,
            source,
        )
    for code in config.llm.languages:
        if code not in LINE_LANGUAGES:
            raise ConfigError(
                f"{source}: [llm] languages has {code!r}; a line may speak only "
                f"{', '.join(map(repr, LINE_LANGUAGES))}"
            )
    names = {line.name for line in config.lines} or {"main"}
    for hook in config.webhooks:
        unknown = [name for name in hook.lines if name not in names]
        if unknown:
            raise ConfigError(
                f"{source}: [[webhooks]] {hook.name}: lines {unknown} are not lines of this "
                f"config; choose from {', '.join(sorted(names))}"
            )
    return dataclasses.replace(config, base_dir=path.resolve().parent, source=source)


WEBHOOK_EVENTS = ("item.created", "call.summarised", "item.overdue", "theme.rising")


def _check_names(table: str, names: list[str], source: str) -> None:
    """Each entry of an array of tables has a name of its own, fit for logs and labels."""
    seen = set()
    for n, name in enumerate(names):
        where = f"{source}: [[{table}]] {n + 1}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name):
            raise ConfigError(f'{where} needs name = "..." (lowercase letters, digits, - and _)')
        if name in seen:
            raise ConfigError(f"{where}: the name {name!r} is used twice")
        seen.add(name)


def _check_webhooks(hooks: tuple[WebhookConfig, ...], source: str) -> None:
    from urllib.parse import urlsplit

    _check_names("webhooks", [hook.name for hook in hooks], source)
    for n, hook in enumerate(hooks):
        where = f"{source}: [[webhooks]] {n + 1}"
        parts = urlsplit(hook.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where} ({hook.name}): url must be an http(s) URL with a host")
        if hook.format == "standard" and not hook.secret_file:
            raise ConfigError(
                f'{where} ({hook.name}): format "standard" needs secret_file = "..." (one line: '
                "whsec_<base64>)"
            )
        bad = [e for e in hook.events if e not in WEBHOOK_EVENTS]
        if bad or not hook.events:
            raise ConfigError(
                f"{where} ({hook.name}): events {bad or '[]'} not allowed; choose from "
                f"{', '.join(WEBHOOK_EVENTS)}"
            )


def _check_hours(where: str, hours: str, timezone: str, source: str) -> None:
    try:
        parse_hours(hours, timezone)
    except ValueError as exc:
        raise ConfigError(f"{source}: {where} handoff hours: {exc}") from None


def _check_lines(lines: tuple[LineConfig, ...], source: str) -> None:
    _check_names("lines", [line.name for line in lines], source)
    numbers: dict[str, str] = {}
    for n, line in enumerate(lines):
        where = f"{source}: [[lines]] {n + 1}"
        if not line.number and not line.dids:
            raise ConfigError(
                f'{where} ({line.name}): give number = "..." (the dialed user part) or dids'
            )
        for number in (line.number, *line.dids):
            if number and not re.fullmatch(r"[A-Za-z0-9+._~-]{1,64}", number):
                raise ConfigError(
                    f"{where} ({line.name}): {number!r} is not a SIP user part; use letters, "
                    "digits, + . _ ~ -"
                )
            if number in numbers:
                raise ConfigError(
                    f"{where} ({line.name}): {number!r} is already line {numbers[number]!r}'s"
                )
            if number:
                numbers[number] = line.name
        if line.voice.startswith(ESPEAK_PREFIX) and not re.fullmatch(
            r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*", line.voice.removeprefix(ESPEAK_PREFIX)
        ):
            raise ConfigError(
                f"{where} ({line.name}): voice {line.voice!r} is not an espeak-ng voice name; "
                "see `espeak-ng --voices`, e.g. 'espeak-ng:sv'"
            )
        if line.handoff_uri and not line.handoff_uri.startswith(("sip:", "sips:", "tel:")):
            raise ConfigError(
                f"{where} ({line.name}): handoff_uri {line.handoff_uri!r} must be a SIP or tel "
                "URI such as 'sip:support-se@pbx'"
            )


def _check_cluster(config: Config, source: str) -> None:
    cluster, sip = config.cluster, config.sip
    if cluster.workers == 1:
        return
    if sip.registration.registrar:
        raise ConfigError(
            f"{source}: sip.registration with cluster.workers = {cluster.workers} is not "
            "supported; route the trunk to the box's address instead, or set workers = 1"
        )
    first, last = cluster.worker_port - 1, cluster.worker_port + cluster.workers - 1
    if first <= sip.port <= last:
        raise ConfigError(
            f"{source}: sip.port {sip.port} falls inside the workers' ports {first}-{last}; "
            "move cluster.worker_port"
        )
    if sip.rtp_port_range // cluster.workers < 4:
        raise ConfigError(
            f"{source}: sip.rtp_port_range {sip.rtp_port_range} leaves fewer than 4 RTP ports "
            f"per worker for {cluster.workers} workers; widen it"
        )


def _check_adapter(models: ModelsConfig, source: str) -> None:
    if models.adapter and not re.fullmatch(r"[0-9a-f]{64}", models.adapter_base_sha256):
        raise ConfigError(
            f"{source}: models.adapter_base_sha256 must be the 64-hex sha256 of the base GGUF "
            "the adapter was trained on (`sha256sum` it, or see `ceoline persona train`'s "
            'output); or set models.adapter = "" to run without an adapter'
        )


def _check_sip(sip: SipConfig, source: str) -> None:
    """Cross-field checks that a single key's range cannot express."""
    for key, value in (("sip.address", sip.address), ("sip.media_address", sip.media_address)):
        if key == "sip.media_address" and not value:
            continue
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError(
                f"{source}: {key} = {value!r} is not an IP address; give the address of the "
                "interface that faces the trunk"
            ) from None
        if addr.version != 4:
            raise ConfigError(
                f"{source}: {key} = {value!r} is IPv6; the SIP stack here handles IPv4 media "
                "only, so give the interface's IPv4 address"
            )
        if addr.is_unspecified:
            raise ConfigError(
                f"{source}: {key} = {value!r} would let media leave by any interface; give the "
                "one address of the interface that faces the trunk"
            )
    if not (sip.udp or sip.tcp):
        raise ConfigError(f"{source}: sip.udp and sip.tcp are both false; enable at least one")
    for entry in sip.allow:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: sip.allow entry {entry!r} is not an address or CIDR such as "
                "'10.20.0.0/16'"
            ) from None
    if not sip.codecs:
        raise ConfigError(f"{source}: sip.codecs is empty; list at least one, e.g. 'PCMU/8000'")
    for codec in sip.codecs:
        name, _, rate = codec.partition("/")
        if not name or not rate.isdigit():
            raise ConfigError(
                f"{source}: sip.codecs entry {codec!r} must be NAME/RATE, e.g. 'G722/16000'"
            )
    if sip.rtp_port_range < 2 * sip.max_calls:
        raise ConfigError(
            f"{source}: sip.rtp_port_range = {sip.rtp_port_range} cannot hold {sip.max_calls} "
            f"calls (RTP and RTCP take two ports each); make it at least {2 * sip.max_calls}"
        )
    if sip.rtp_port + sip.rtp_port_range > 65536:
        raise ConfigError(f"{source}: sip.rtp_port + sip.rtp_port_range goes past port 65535")
    reg = sip.registration
    if reg.registrar and not reg.registrar.startswith(("sip:", "sips:")):
        raise ConfigError(
            f"{source}: sip.registration.registrar = {reg.registrar!r} must be a SIP URI such "
            "as 'sip:pbx.example.internal'"
        )
    if reg.registrar and not reg.user:
        raise ConfigError(f"{source}: sip.registration.user is empty; registration needs one")


def config_with(config: Config, **sections: Any) -> Config:
    """A copy with some sections' fields replaced.

    ``config_with(c, vad={"end_of_turn_ms": 300})``
    """
    changes = {}
    for name, values in sections.items():
        changes[name] = dataclasses.replace(getattr(config, name), **values)
    return dataclasses.replace(config, **changes)
