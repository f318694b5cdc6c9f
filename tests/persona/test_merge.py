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
