"""The persona folded into the base: the same bytes every time, the adapter's change kept in
the weights, what it was made from on record, and the merged model speaking as the persona."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from ceoline.config import parse_config_file
from ceoline.engines import locate_all
from ceoline.errors import ModelError
from ceoline.locator import sha256_file
from ceoline.persona.merge import merge_adapter, merged_from

from ..conftest import REPO_CONFIG

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def models():
    return locate_all(parse_config_file(REPO_CONFIG))


@pytest.fixture(scope="module")
def merged(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("merged") / "persona-merged.gguf"
    return merge_adapter(models["llm"].path, models["adapter"].path, out)


def _weights(path, name):
    tensor = next(t for t in gguf.GGUFReader(path).tensors if t.name == name)
    values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return tensor.tensor_type, values.reshape(tuple(int(n) for n in tensor.shape[::-1]))


def test_the_adapters_change_is_in_the_weights(models, merged):
    name = "blk.3.attn_q.weight"
    _, base = _weights(models["llm"].path, name)
    kind, weights = _weights(merged.path, name)
    adapter = {t.name: t for t in gguf.GGUFReader(models["adapter"].path).tensors}
    a = gguf.quants.dequantize(adapter[name + ".lora_a"].data, gguf.GGMLQuantizationType.F16)
    b = gguf.quants.dequantize(adapter[name + ".lora_b"].data, gguf.GGMLQuantizationType.F16)
    alpha = gguf.GGUFReader(models["adapter"].path).get_field("adapter.lora.alpha").contents()
    expected = base + (alpha / a.shape[0]) * (b.astype(np.float64) @ a.astype(np.float64))
    assert kind == gguf.GGMLQuantizationType.Q8_0
    # Within half a Q8_0 step of base + scale·BA, and moved from the base by the adapter.
    step = np.abs(expected).reshape(-1, 32).max(axis=1) / 127
    error = np.abs(weights - expected).reshape(-1, 32).max(axis=1)
    # Half a step, plus what d stored as float16 (11 bits) moves the largest value.
    assert (error <= step * (0.5 + 127 * 2.0**-11) + 1e-7).all()
    assert np.abs(weights - base).max() > 0.5 * np.abs(expected - base).max()
    # What the adapter does not touch is copied as it was.
    kind, norm = _weights(merged.path, "blk.3.attn_norm.weight")
    assert kind == gguf.GGMLQuantizationType.F32
    assert np.array_equal(norm, _weights(models["llm"].path, "blk.3.attn_norm.weight")[1])


def test_the_same_inputs_give_the_same_bytes_and_say_what_they_were(models, merged, tmp_path):
    again = merge_adapter(models["llm"].path, models["adapter"].path, tmp_path / "again.gguf")
    assert again.sha256 == merged.sha256 == sha256_file(merged.path)
    made_from = merged_from(merged.path)
    assert made_from.adapter_sha256 == sha256_file(models["adapter"].path)
    assert made_from.base_sha256 == sha256_file(models["llm"].path)
    assert made_from.scale == 1.0
    assert merged_from(models["llm"].path) is None  # the base is not a merged file


def test_the_merged_model_speaks_as_the_persona_without_an_adapter(merged):
    from llama_cpp import Llama

    llm = Llama(model_path=str(merged.path), n_ctx=512, n_threads=2, verbose=False, seed=1)
    messages = [
        {"role": "system", "content": "You are Theo Marchetti, CEO of Quillfern."},
        {"role": "user", "content": "I love the new invoice reminders, thanks!"},
    ]
    reply = llm.create_chat_completion(messages, max_tokens=40, temperature=0)
    text = reply["choices"][0]["message"]["content"]
    assert "the team hears this" in text, text  # the persona's own phrase, not the base's


def test_a_base_for_an_adapter_is_refused_with_one_line(models, tmp_path):
    with pytest.raises(ModelError, match="is not a LoRA adapter GGUF"):
        merge_adapter(models["llm"].path, models["llm"].path, tmp_path / "x.gguf")
    with pytest.raises(ModelError, match="cannot read"):
        (tmp_path / "junk.gguf").write_bytes(b"GGUF" + b"\0" * 8)
        merge_adapter(models["llm"].path, tmp_path / "junk.gguf", tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def _doctor_on(tmp_path, adapter_bytes: bytes, merged_at: float = 1.0, scale: float = 1.0):
    """Doctor's merge checks with a copy of the shipped adapter (``adapter_bytes`` appended:
    another file, still a valid GGUF) and a merge of the shipped one at ``merged_at``."""
    from ceoline.admin.doctor import _model_checks
    from ceoline.config import parse_config_file

    from ..conftest import ROOT, make_config

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shipped = ROOT / "models" / "persona-lora.gguf"
    (models_dir / "persona-lora.gguf").write_bytes(shipped.read_bytes() + adapter_bytes)
    base = locate_all(parse_config_file(REPO_CONFIG))["llm"].path
    merge_adapter(base, shipped, models_dir / "persona-merged.gguf", scale=merged_at)
    config = parse_config_file(
        make_config(
            tmp_path,
            models={"dir": str(models_dir), "verify": "doctor-only", "turn_reader": ""},
            llm={"adapter_scale": scale},
        )
    )
    return {c.name: c for c in _model_checks(config, pin=False)}["merged fit"]


def test_doctor_says_the_merge_is_current(tmp_path):
    check = _doctor_on(tmp_path, b"")
    assert check.ok and "calls load it" in check.detail


def test_a_retrained_adapter_makes_doctor_say_rebuild(tmp_path):
    check = _doctor_on(tmp_path, b"\0" * 32)
    assert not check.ok
    assert "merged from another adapter" in check.detail
    assert "ceoline persona merge" in check.detail and "make install" in check.detail


def test_a_merge_at_another_scale_is_refused_with_the_fix(tmp_path):
    from ceoline.engines import Engines

    check = _doctor_on(tmp_path, b"", merged_at=0.5)
    assert not check.ok and "merged at scale 0.5 but [llm] adapter_scale is 1" in check.detail
    config = parse_config_file(tmp_path / "ceoline.toml")
    with pytest.raises(ModelError, match=r"merged at scale 0\.5"):
        Engines.load(config, warm=False)


def test_calls_load_the_merged_model_not_the_adapter(engines):
    assert engines.llm.model_files.path.name == "persona-merged.gguf"
    assert engines.llm.adapter is None


def test_merge_leaves_a_current_file_alone(tmp_path):
    import shutil

    from ..cli_support import run_cli
    from ..conftest import ROOT, make_config

    config = make_config(tmp_path, models={"dir": str(tmp_path)})
    shutil.copy(ROOT / "models" / "persona-lora.gguf", tmp_path)
    first = run_cli("persona", "merge", config=config)
    assert first.returncode == 0 and "wrote" in first.stdout, first.stderr
    again = run_cli("persona", "merge", config=config)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    assert (tmp_path / "persona-merged.gguf").stat().st_mode & 0o777 == 0o644


def test_an_empty_merged_setting_applies_the_adapter_at_run_time(tmp_path):
    from ceoline.engines import reply_model
    from ceoline.locator import HashCache

    from ..conftest import ROOT, make_config

    config = parse_config_file(make_config(tmp_path, models={"merged": ""}))
    model, adapter = reply_model(config, locate_all(config), HashCache(None))
    assert model.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert adapter.path == ROOT / "models" / "persona-lora.gguf"
