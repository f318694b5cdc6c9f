"""Each stage engine's options, including the CUDA paths this CPU-only machine cannot run."""

import pytest

from ceoline.config import LlmConfig, RuntimeConfig, SttConfig
from ceoline.errors import ModelError
from ceoline.locator import locate
from ceoline.voice.llm import LanguageModel, llama_options
from ceoline.voice.stt import Transcriber, whisper_options
from ceoline.voice.tts import onnx_providers

from ..conftest import ROOT

CPU, CUDA = RuntimeConfig(device="cpu", threads=2), RuntimeConfig(device="cuda", threads=4)


def test_whisper_compute_type_follows_device():
    model = locate("stt", "embedded", ROOT / "models")
    assert whisper_options(model, SttConfig(), CPU)["compute_type"] == "int8"
    cuda = whisper_options(model, SttConfig(), CUDA)
    assert cuda["device"] == "cuda" and cuda["compute_type"] == "float16"
    forced = whisper_options(model, SttConfig(compute_type="int8_float16"), CUDA)
    assert forced["compute_type"] == "int8_float16"
    assert cuda["local_files_only"] is True


def test_llama_offloads_layers_only_on_cuda():
    model = locate("llm", "embedded", ROOT / "models")
    assert llama_options(model, LlmConfig(), CPU)["n_gpu_layers"] == 0
    assert llama_options(model, LlmConfig(gpu_layers=-1), CUDA)["n_gpu_layers"] == -1
    assert llama_options(model, LlmConfig(gpu_layers=20), CUDA)["n_gpu_layers"] == 20


def test_the_persona_adapter_rides_with_the_model_on_cpu_and_gpu():
    model = locate("llm", "embedded", ROOT / "models")
    adapter = locate("adapter", "persona-lora.gguf", ROOT / "models")
    assert "lora_path" not in llama_options(model, LlmConfig(), CPU)
    gpu = llama_options(model, LlmConfig(gpu_layers=-1, adapter_scale=0.5), CUDA, adapter)
    assert gpu["lora_path"] == str(adapter.path) and gpu["lora_scale"] == 0.5
    assert gpu["n_gpu_layers"] == -1


def test_piper_uses_the_cuda_provider_on_cuda():
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    cuda = onnx_providers("cuda")
    assert cuda[0][0] == "CUDAExecutionProvider" and cuda[-1] == "CPUExecutionProvider"


def test_corrupt_gguf_with_valid_magic_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + bytes(64))
    with pytest.raises(ModelError, match=r"cannot load LLM .*bad.gguf"):
        LanguageModel(locate("llm", "bad.gguf", tmp_path), LlmConfig(), CPU)


def test_corrupt_whisper_model_is_a_model_error(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "model.bin").write_bytes(b"junk")
    (tmp_path / "w" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="cannot load speech-to-text model"):
        Transcriber(locate("stt", "w", tmp_path), SttConfig(), CPU)
