"""The peft -> llama.cpp LoRA exporter: names, shapes, metadata, the q/k permutation, fit checks.

The permutation check compares what the same random adapter does to the logits in
transformers+peft (on the model dequantized from the base GGUF) and in llama.cpp: the two
logit deltas must correlate. During development, skipping the q/k permutation dropped the
q/k correlation from 0.99 to 0.52 (0.08 on the next-token logits); v/o/MLP are not permuted.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ceoline.errors import ModelError
from ceoline.locator import locate, sha256_file
from ceoline.persona.lora_gguf import (
    KEY_BASE_NAME,
    KEY_BASE_SHA256,
    AdapterInfo,
    check_adapter_fits,
    export_lora,
    read_adapter,
)

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
llama_cpp = pytest.importorskip("llama_cpp")

pytestmark = [
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
RANK = 4
ALPHA = 8.0
# lora_A and lora_B drawn from N(0, STD^2): large enough that the adapter's effect on the
# logits stands well above the Q4_1-vs-f32 difference between llama.cpp and transformers.
STD = 0.1
ALL_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GROUPS = {
    "all": ALL_MODULES,
    "qk": ("q_proj", "k_proj"),
    "vo": ("v_proj", "o_proj"),
    "mlp": ("gate_proj", "up_proj", "down_proj"),
}
GGUF_NAME = re.compile(
    r"^blk\.(\d+)\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight"
    r"\.lora_(a|b)$"
)
PROMPT = b"The quick brown fox jumps over the lazy dog. Our mission is to help"


@pytest.fixture(scope="module")
def base() -> Path:
    return locate("llm", "embedded", ROOT / "models").path


@pytest.fixture(scope="module")
def base_sha(base) -> str:
    return sha256_file(base)


@pytest.fixture(scope="module")
def base_shapes(base) -> dict[str, tuple[int, ...]]:
    reader = gguf.GGUFReader(base)
    return {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}


@pytest.fixture(scope="module")
def peft_model(base):
    """The base dequantized by transformers, with one random LoRA per group (loaded once)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    # torch's and llama.cpp's OpenMP threads spin-wait against each other on a small machine
    # (a 0.1 s llama.cpp eval took 9 s right after a torch forward); one thread each avoids it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(
        base.parent, gguf_file=base.name, dtype=torch.float32
    )
    pm = None
    for group, targets in GROUPS.items():
        config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(targets))
        if pm is None:
            pm = get_peft_model(model, config, adapter_name=adapter_name(group))
        else:
            pm.add_adapter(adapter_name(group), config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for pname, param in pm.named_parameters():
            if ".lora_A." in pname or ".lora_B." in pname:
                param.copy_(torch.randn(param.shape, generator=gen) * STD)
    pm.eval()
    yield pm
    torch.set_num_threads(threads)


def adapter_name(group: str) -> str:
    # get_peft_model_state_dict strips f".{adapter_name}" from every key, so an adapter named
    # "mlp" would also cut ".mlp" out of "model.layers.0.mlp.gate_proj" (and drop those keys).
    return f"test_{group}"


def state_dict(pm, group: str) -> dict:
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(
        pm, adapter_name=adapter_name(group), save_embedding_layers=False
    )


@pytest.fixture(scope="module")
def adapters(peft_model, base, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("adapters")
    paths = {}
    for group, targets in GROUPS.items():
        paths[group] = out / f"{group}.gguf"
        export_lora(
            paths[group],
            state_dict(peft_model, group),
            base_gguf=base,
            alpha=ALPHA,
            extra={"rank": RANK, "target_modules": ",".join(targets), "lr": 1e-4, "epochs": 2},
        )
    return paths


def new_llama(base: Path, adapter: Path | None = None):
    kwargs = {"lora_path": str(adapter), "lora_scale": 1.0} if adapter else {}
    return llama_cpp.Llama(
        model_path=str(base),
        n_ctx=256,
        logits_all=True,
        verbose=False,
        n_threads=1,
        n_threads_batch=1,
        **kwargs,
    )


@pytest.fixture(scope="module")
def tokens(base) -> list[int]:
    return new_llama(base).tokenize(PROMPT, add_bos=False)


def cpp_logits(base: Path, adapter: Path | None, tokens: list[int]) -> np.ndarray:
    llm = new_llama(base, adapter)
    llm.eval(tokens)
    logits = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    llm.close()
    return logits


@pytest.fixture(scope="module")
def base_cpp(base, tokens) -> np.ndarray:
    return cpp_logits(base, None, tokens)


def hf_logits(pm, group: str | None, tokens: list[int]) -> np.ndarray:
    ids = torch.tensor([tokens])
    with torch.no_grad():
        if group is None:
            with pm.disable_adapter():
                return pm(ids).logits[0].double().numpy()
        pm.set_adapter(adapter_name(group))
        return pm(ids).logits[0].double().numpy()


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


# -- 1. names, shapes, metadata ----------------------------------------------------------


def test_export_names_shapes_and_metadata(adapters, peft_model, base, base_sha, base_shapes):
    reader = gguf.GGUFReader(adapters["all"])
    names = [t.name for t in reader.tensors]
    assert len(names) == 30 * len(ALL_MODULES) * 2
    for tensor in reader.tensors:
        m = GGUF_NAME.match(tensor.name)
        assert m, tensor.name
        assert int(m[1]) < 30
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
        model = base_shapes[tensor.name.rsplit(".", 1)[0]]
        # llama.cpp (GGML order): model.ne[0] == a.ne[0], model.ne[1] == b.ne[1], a.ne[1] == b.ne[0]
        shape = tuple(int(d) for d in tensor.shape)
        assert shape == ((model[0], RANK) if m[3] == "a" else (RANK, model[1])), tensor.name

    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert meta["general.type"] == "adapter"
    assert meta["general.architecture"] == "llama"
    assert meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == ALPHA
    assert meta[KEY_BASE_SHA256] == base_sha
    assert meta[KEY_BASE_NAME] == base.name
    assert meta["ceoline.rank"] == RANK
    assert meta["ceoline.target_modules"] == ",".join(ALL_MODULES)

    info = read_adapter(adapters["all"])
    assert isinstance(info, AdapterInfo)
    assert info.tensors == {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    assert info.metadata == {k: v for k, v in meta.items() if k.startswith("ceoline.")}
    assert (info.architecture, info.alpha, info.rank) == ("llama", ALPHA, RANK)
    assert (info.base_sha256, info.base_name) == (base_sha, base.name)
    assert info.tensors["blk.0.attn_k.weight.lora_b"] == (RANK, 192)
    assert info.metadata["ceoline.epochs"] == 2
    assert info.metadata["ceoline.lr"] == pytest.approx(1e-4)
    assert check_adapter_fits(adapters["all"], base, base_sha) == info


def test_export_data_layout(adapters, peft_model):
    """A and v/o/MLP B are stored as trained; q/k B rows are permuted, not copied."""
    sd = state_dict(peft_model, "all")
    reader = gguf.GGUFReader(adapters["all"])
    data = {t.name: np.asarray(t.data) for t in reader.tensors}
    prefix = "base_model.model.model.layers.3."
    a_q = sd[prefix + "self_attn.q_proj.lora_A.weight"].numpy()
    b_q = sd[prefix + "self_attn.q_proj.lora_B.weight"].numpy()
    b_v = sd[prefix + "self_attn.v_proj.lora_B.weight"].numpy()
    np.testing.assert_array_equal(data["blk.3.attn_q.weight.lora_a"], a_q)
    np.testing.assert_array_equal(data["blk.3.attn_v.weight.lora_b"], b_v)
    stored = data["blk.3.attn_q.weight.lora_b"]
    assert not np.array_equal(stored, b_q)
    np.testing.assert_array_equal(np.sort(stored, axis=0), np.sort(b_q, axis=0))


# -- 2. llama.cpp loads it ------------------------------------------------------------------


def test_llama_cpp_loads_adapter_and_it_changes_logits(adapters, base, base_cpp, tokens):
    adapted = cpp_logits(base, adapters["all"], tokens)
    assert np.abs(adapted[-1] - base_cpp[-1]).max() > 1.0


def test_f16_export_loads_and_matches_f32(peft_model, base, tokens, tmp_path, adapters):
    out = tmp_path / "f16.gguf"
    export_lora(out, state_dict(peft_model, "qk"), base_gguf=base, alpha=ALPHA, dtype="f16")
    reader = gguf.GGUFReader(out)
    assert {t.tensor_type for t in reader.tensors} == {gguf.GGMLQuantizationType.F16}
    f16 = cpp_logits(base, out, tokens)[-1]
    f32 = cpp_logits(base, adapters["qk"], tokens)[-1]
    assert correlation(f16, f32) > 0.999


# -- 3. the adapter does the same thing in llama.cpp as in peft --------------------------


@pytest.mark.parametrize("group", ["qk", "vo", "mlp"])
def test_adapter_effect_matches_peft(group, adapters, peft_model, base, base_cpp, tokens):
    delta_hf = hf_logits(peft_model, group, tokens) - hf_logits(peft_model, None, tokens)
    delta_cpp = cpp_logits(base, adapters[group], tokens) - base_cpp
    assert np.abs(delta_hf[-1]).mean() > 0.5  # the adapter does move the logits
    # Measured in development: 0.98-0.999 when correct; q/k unpermuted gave 0.08 / 0.52.
    assert correlation(delta_hf[-1], delta_cpp[-1]) > 0.9  # next-token logits
    assert correlation(delta_hf, delta_cpp) > 0.9  # every position


# -- 4. fit checks --------------------------------------------------------------------------


def write_adapter(
    path: Path,
    tensors: dict[str, np.ndarray],
    *,
    arch: str = "llama",
    sha: str | None = None,
    general_type: str = "adapter",
) -> Path:
    writer = gguf.GGUFWriter(path, arch)
    writer.add_type(general_type)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, ALPHA)
    if sha is not None:
        writer.add_string(KEY_BASE_SHA256, sha)
    for name, array in tensors.items():
        writer.add_tensor(name, array.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def q_pair(block: int, hidden: int) -> dict[str, np.ndarray]:
    """numpy shapes: lora_a (r, n_in), lora_b (n_out, r)."""
    return {
        f"blk.{block}.attn_q.weight.lora_a": np.ones((RANK, hidden)),
        f"blk.{block}.attn_q.weight.lora_b": np.ones((hidden, RANK)),
    }


def fit_error(adapter: Path, base: Path, sha: str) -> str:
    with pytest.raises(ModelError) as exc:
        check_adapter_fits(adapter, base, sha)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_adapter_of_another_base_is_refused(adapters, base, base_sha):
    other = "ab" * 32
    message = fit_error(adapters["all"], base, other)
    assert base_sha[:12] in message and other[:12] in message
    assert 'retrain with `ceoline persona train` or set [models] adapter = ""' in message


def test_wrong_shapes_are_refused_like_llama_cpp(tmp_path, base, base_sha):
    adapter = write_adapter(tmp_path / "hidden512.gguf", q_pair(0, 512), sha=base_sha)
    message = fit_error(adapter, base, base_sha)
    assert "blk.0.attn_q.weight" in message and "shape" in message
    # Not loaded into llama.cpp here: llama.cpp logs "has incorrect shape" but
    # llama-cpp-python 0.3.36 still returns an adapter, and the next eval segfaults.


def test_rank_mismatch_missing_tensor_arch_and_hash_are_refused(tmp_path, base, base_sha):
    pair = q_pair(0, 576)
    pair["blk.0.attn_q.weight.lora_b"] = np.ones((576, RANK + 1))
    message = fit_error(write_adapter(tmp_path / "r.gguf", pair, sha=base_sha), base, base_sha)
    assert "rank" in message

    missing = write_adapter(tmp_path / "m.gguf", q_pair(40, 576), sha=base_sha)
    assert "blk.40.attn_q.weight" in fit_error(missing, base, base_sha)

    half = {"blk.0.attn_q.weight.lora_a": np.ones((RANK, 576))}
    half_adapter = write_adapter(tmp_path / "h.gguf", half, sha=base_sha)
    assert "missing one half" in fit_error(half_adapter, base, base_sha)

    qwen = write_adapter(tmp_path / "q.gguf", q_pair(0, 576), arch="qwen2", sha=base_sha)
    assert "'qwen2'" in fit_error(qwen, base, base_sha)

    unpinned = write_adapter(tmp_path / "u.gguf", q_pair(0, 576))
    assert "no base model hash" in fit_error(unpinned, base, base_sha)


def test_base_header_scan_matches_gguf_reader(base, base_shapes):
    from ceoline.persona.lora_gguf import _read_base

    scanned = _read_base(base)
    assert scanned.tensors == base_shapes
    assert (scanned.architecture, scanned.n_head, scanned.n_head_kv, scanned.n_layer) == (
        "llama",
        9,
        3,
        30,
    )


def test_not_an_adapter_is_a_clear_model_error(tmp_path, base, base_sha):
    text = tmp_path / "persona.gguf"
    text.write_text("not a gguf\n")
    for path, expected in ((text, "is not a GGUF file"), (base, "is not a LoRA adapter")):
        with pytest.raises(ModelError) as exc:
            read_adapter(path)
        assert expected in str(exc.value) and str(path) in str(exc.value)
        assert "\n" not in str(exc.value)
        assert expected in fit_error(path, base, base_sha)
    with pytest.raises(ModelError, match="cannot be read"):
        read_adapter(tmp_path / "absent.gguf")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(base.read_bytes()[:1000])
    with pytest.raises(ModelError, match="corrupt GGUF"):
        read_adapter(truncated)


# -- export refusals and atomic writes -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("base_model.model.model.layers.0.self_attn.rotary_emb.lora_A.weight", "no llama.cpp"),
        ("base_model.model.lm_head.lora_A.weight", "does not have"),
        ("base_model.model.model.embed_tokens.lora_embedding_A", "not a peft lora_A/lora_B"),
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA"),
    ],
)
def test_export_refuses_unknown_modules_and_leaves_no_file(tmp_path, base, key, expected):
    out = tmp_path / "persona.gguf"
    good = {
        "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": torch.ones(RANK, 576),
        "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": torch.ones(192, RANK),
    }
    with pytest.raises(ModelError, match=expected):
        export_lora(out, {**good, key: torch.ones(RANK, 576)}, base_gguf=base, alpha=ALPHA)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_half_pairs_bad_shapes_and_alpha(tmp_path, base):
    prefix = "base_model.model.model.layers.0.self_attn.v_proj."
    with pytest.raises(ModelError, match="has no lora_B"):
        export_lora(
            tmp_path / "x.gguf",
            {prefix + "lora_A.weight": torch.ones(RANK, 576)},
            base_gguf=base,
            alpha=ALPHA,
        )
    wrong = {
        prefix + "lora_A.weight": torch.ones(RANK, 512),
        prefix + "lora_B.weight": torch.ones(192, RANK),
    }
    with pytest.raises(ModelError, match="does not fit"):
        export_lora(tmp_path / "x.gguf", wrong, base_gguf=base, alpha=ALPHA)
    with pytest.raises(ValueError, match="alpha"):
        export_lora(tmp_path / "x.gguf", wrong, base_gguf=base, alpha=0)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_adapter(tmp_path, base, monkeypatch):
    out = tmp_path / "persona.gguf"
    out.write_bytes(b"previous adapter")
    prefix = "base_model.model.model.layers.0.self_attn.v_proj."
    lora = {
        prefix + "lora_A.weight": torch.ones(RANK, 576),
        prefix + "lora_B.weight": torch.ones(192, RANK),
    }

    def boom(self):
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", boom)
    with pytest.raises(OSError, match="disk full"):
        export_lora(out, lora, base_gguf=base, alpha=ALPHA)
    assert out.read_bytes() == b"previous adapter"
    assert [p.name for p in tmp_path.iterdir()] == ["persona.gguf"]
