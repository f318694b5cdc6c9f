"""Training a persona LoRA for real (a few steps on the embedded base) and serving it.

Training runs in a subprocess, as an admin runs it: torch's OpenMP threads would otherwise
stay in this process and slow every llama.cpp test after it.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from ceoline.config import parse_config_file
from ceoline.errors import ModelError
from ceoline.locator import HashCache, locate
from ceoline.persona.lora_gguf import read_adapter

from ..cli_support import one_line_error, run_cli
from ..conftest import DATA, ROOT, make_config

pytest.importorskip("peft")
pytestmark = pytest.mark.models

TINY = [
    ("product", "What do you think of the invoice screen?", "Honestly, it's the heart of the app."),
    (
        "complaint",
        "The app logged me out again.",
        "That's on us. I'll make sure the team hears this.",
    ),
    ("story", "Where did Quillfern start?", "Here's the thing, it started above a bakery in 2016."),
    (
        "mission",
        "Why does Quillfern exist?",
        "Fair point to ask. Small businesses deserve good tools.",
    ),
]
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def train_config(tmp_path: Path, **train) -> Path:
    settings = {
        "target_modules": list(TARGETS),
        "rank": 4,
        "learning_rate": 0.01,
        "epochs": 2,
        **train,
    }
    return make_config(tmp_path, persona={"train": settings})


def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    rows = [{"topic": t, "prompt": p, "reply": r} for t, p, r in TINY]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("train")
    out = tmp / "tiny-lora.gguf"
    done = run_cli(
        "persona", "train", "--corpus", tiny_corpus(tmp), "--out", out, "--max-steps", "6",
        config=train_config(tmp),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {out}" in done.stdout and "6 steps" in done.stdout
    assert "loss=" in done.stderr  # the progress bar shows the loss
    return out


def base_path() -> Path:
    return locate("llm", "embedded", ROOT / "models").path


def next_token_logits(lora: Path | None) -> np.ndarray:
    from llama_cpp import Llama

    options = {"lora_path": str(lora), "lora_scale": 1.0} if lora else {}
    llama = Llama(str(base_path()), n_ctx=256, n_threads=2, verbose=False, **options)
    tokens = llama.tokenize(
        b"<|im_start|>user\nWhere did Quillfern start?<|im_end|>\n", special=True
    )
    llama.eval(tokens)
    return np.array(llama._ctx.get_logits_ith(-1)[: llama.n_vocab()], dtype=np.float64)


def test_a_few_steps_make_an_adapter_llama_cpp_loads_and_that_moves_the_logits(trained):
    base, adapted = next_token_logits(None), next_token_logits(trained)
    assert np.all(np.isfinite(adapted))
    assert np.abs(adapted - base).max() > 0.01


def test_the_trained_adapter_has_llama_cpp_names_shapes_and_its_base(trained):
    from ceoline.locator import sha256_file

    info = read_adapter(trained)
    assert info.architecture == "llama" and info.rank == 4 and info.alpha == 16.0
    assert info.base_sha256 == sha256_file(base_path())
    gguf_names = {
        "q_proj": "attn_q",
        "k_proj": "attn_k",
        "v_proj": "attn_v",
        "o_proj": "attn_output",
    }
    expected = {
        f"blk.{layer}.{gguf_names[module]}.weight.lora_{half}"
        for layer in range(30)
        for module in TARGETS
        for half in "ab"
    }
    assert set(info.tensors) == expected
    # GGML order: A is (n_in, r), B is (r, n_out); k_proj's n_out is the 3 KV heads of 64.
    assert info.tensors["blk.0.attn_q.weight.lora_a"] == (576, 4)
    assert info.tensors["blk.0.attn_k.weight.lora_b"] == (4, 192)
    assert info.metadata["ceoline.steps"] == 6


def test_the_adapter_is_served_and_a_wrong_base_is_refused(trained, tmp_path):
    from ceoline.engines import fitting_adapter, locate_all

    config = parse_config_file(make_config(tmp_path, models={"adapter": str(trained)}))
    models = locate_all(config)
    assert fitting_adapter(config, models, HashCache(None)).path == trained
    wrong = parse_config_file(
        make_config(tmp_path, models={"adapter": str(trained), "adapter_base_sha256": "ab" * 32})
    )
    with pytest.raises(ModelError, match="belongs to base abababababab") as caught:
        fitting_adapter(wrong, locate_all(wrong), HashCache(None))
    assert "\n" not in str(caught.value) and 'adapter = ""' in str(caught.value)


def test_a_call_with_a_wrong_base_adapter_fails_with_one_line(trained, tmp_path):
    config = make_config(
        tmp_path, models={"adapter": str(trained), "adapter_base_sha256": "cd" * 32}
    )
    done = run_cli("call", DATA / "demo-call.wav", config=config)
    one_line_error(done, "belongs to base cdcdcdcdcdcd", 3)


def test_an_unknown_target_module_is_named(tmp_path):
    done = run_cli(
        "persona", "train", "--corpus", tiny_corpus(tmp_path), "--out", tmp_path / "x.gguf",
        config=train_config(tmp_path, target_modules=["q_proj", "qkv_proj"]),
    )  # fmt: skip
    one_line_error(done, "'qkv_proj' is not a linear layer of this base", 1)
    assert not (tmp_path / "x.gguf").exists()


def test_a_bad_corpus_fails_before_any_model_loads(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"topic": "x", "prompt": "hi"}\n')
    done = run_cli(
        "persona", "train", "--corpus", bad, "--out", tmp_path / "x.gguf",
        config=train_config(tmp_path),
    )  # fmt: skip
    one_line_error(done, "bad.jsonl:1: expected exactly the keys", 1)
