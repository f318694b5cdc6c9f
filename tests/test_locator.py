import shutil

import pytest

from ceoline.errors import ModelError
from ceoline.locator import (
    HashCache,
    check_model,
    join_whisper_base,
    locate,
    read_manifest,
    sha256_file,
    verify_models,
    write_manifest,
)

from .conftest import ROOT


@pytest.mark.parametrize("kind", ["stt", "llm", "tts"])
def test_embedded_models_are_found_and_pinned(kind):
    model = locate(kind, "embedded", ROOT / "models")
    assert model.embedded and all(f.is_file() for f in model.files)
    checks = check_model(model, read_manifest(ROOT / "models" / "manifest.toml"), HashCache(None))
    assert [c.status for c in checks] == ["ok"] * len(checks)


def test_whisper_base_is_joined_from_its_two_packages_and_pinned(tmp_path):
    with pytest.raises(ModelError, match=r"whisper-base .*join it with `make install`"):
        locate("stt", "base", tmp_path)
    joined = join_whisper_base(tmp_path)
    model = locate("stt", "base", tmp_path)
    assert model.path == joined == tmp_path / "whisper-base"
    assert not list(joined.glob("*.joining"))
    checks = check_model(model, read_manifest(ROOT / "models" / "manifest.toml"), HashCache(None))
    assert {c.file.name: c.status for c in checks} == {
        "model.bin": "ok",
        "config.json": "ok",
        "tokenizer.json": "ok",
        "vocabulary.txt": "ok",
    }
    stamp = (joined / "model.bin").stat().st_mtime_ns
    assert join_whisper_base(tmp_path) == joined  # already there: not written again
    assert (joined / "model.bin").stat().st_mtime_ns == stamp


def test_a_half_joined_whisper_base_is_joined_again(tmp_path):
    dest = tmp_path / "whisper-base"
    dest.mkdir()
    (dest / "model.bin").write_bytes(b"half")
    join_whisper_base(tmp_path)
    assert (dest / "model.bin").stat().st_size > 100_000_000


def test_relative_path_is_under_models_dir(tmp_path):
    (tmp_path / "voices").mkdir()
    src = locate("tts", "embedded", ROOT / "models")
    for f in src.files:
        shutil.copy(f, tmp_path / "voices" / f.name)
    model = locate("tts", f"voices/{src.path.name}", tmp_path)
    assert model.path == tmp_path / "voices" / src.path.name


def test_missing_models_name_the_file_and_fix(tmp_path):
    with pytest.raises(ModelError, match=r"LLM model file not found: .*big.gguf; put the model"):
        locate("llm", "big.gguf", tmp_path)
    with pytest.raises(ModelError, match="must be a CTranslate2 Whisper directory"):
        locate("stt", "whisper-large", tmp_path)
    with pytest.raises(ModelError, match="Piper voice file not found"):
        locate("tts", "voice.onnx", tmp_path)


def test_non_gguf_is_refused(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelError, match="is not a GGUF file"):
        locate("llm", "m.gguf", tmp_path)


def test_corrupt_voice_config(tmp_path):
    (tmp_path / "v.onnx").write_bytes(b"x")
    (tmp_path / "v.onnx.json").write_text("{}")
    with pytest.raises(ModelError, match="corrupt"):
        locate("tts", "v.onnx", tmp_path)


def test_manifest_pins_and_detects_a_changed_file(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    model = locate("llm", "m.gguf", tmp_path)
    manifest = tmp_path / "manifest.toml"
    cache = HashCache(tmp_path / "cache.json")
    write_manifest(manifest, [model], cache)
    assert read_manifest(manifest)["llm"]["m.gguf"]["m.gguf"] == sha256_file(gguf)
    verify_models([model], manifest, cache)
    gguf.write_bytes(b"GGUF" + bytes(99) + b"\x01")
    with pytest.raises(ModelError, match="sha256 does not match"):
        verify_models([model], manifest, HashCache(tmp_path / "cache.json"))


def test_hash_cache_reuses_unchanged_files(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    cache = HashCache(tmp_path / "c.json")
    first = cache.sha256(f)
    monkeypatch.setattr("ceoline.locator.sha256_file", lambda p: pytest.fail("re-hashed"))
    assert HashCache(tmp_path / "c.json").sha256(f) == first


def test_a_missing_or_foreign_adapter_says_how_to_fix_it(tmp_path):
    with pytest.raises(ModelError, match=r"persona adapter file not found: .*make persona"):
        locate("adapter", "nope.gguf", tmp_path)
    (tmp_path / "lora.bin").write_bytes(b"PK\x03\x04" + bytes(64))
    with pytest.raises(ModelError, match=r"not a GGUF file .*set it to \"\""):
        locate("adapter", "lora.bin", tmp_path)


def test_the_shipped_adapter_is_pinned():
    adapter = locate("adapter", "persona-lora.gguf", ROOT / "models")
    manifest = read_manifest(ROOT / "models" / "manifest.toml")
    pinned = manifest["adapter"]["persona-lora.gguf"]["persona-lora.gguf"]
    assert pinned == sha256_file(adapter.path)


def test_the_merged_persona_model_is_built_and_pinned():
    merged = locate("merged", "persona-merged.gguf", ROOT / "models")
    manifest = read_manifest(ROOT / "models" / "manifest.toml")
    pinned = manifest["merged"]["persona-merged.gguf"]["persona-merged.gguf"]
    assert pinned == sha256_file(merged.path)
