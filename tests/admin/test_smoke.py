"""Engine smoke tests in child processes: a crash is one line naming the engine and the fix."""

import os
import signal

import pytest

from ceoline.admin.smoke import CRASH_ENV, ctranslate2_kernels, judge, run_smoke

from ..cli_support import run_cli
from ..conftest import REPO_CONFIG


def test_a_child_killed_by_a_signal_becomes_one_line():
    result = judge("llm", -signal.SIGSEGV, "", "Fatal Python error: Segmentation fault")
    assert not result.ok
    assert result.detail.startswith("LLM (llama.cpp")
    assert "SIGSEGV" in result.detail and "make clean install" in result.detail
    assert "SIGILL" in judge("stt", -signal.SIGILL, "", "").detail


def test_a_child_error_keeps_its_message():
    result = judge("tts", 1, "", "some log\nerror: cannot load Piper voice x.onnx\n")
    assert not result.ok and result.detail.endswith("failed: cannot load Piper voice x.onnx")
    assert not judge("tts", 0, "not json", "").ok


@pytest.mark.models
@pytest.mark.parametrize("engine", ["llm", "stt", "tts", "turn", "echo"])
def test_each_engine_runs_on_this_cpu(engine):
    result = run_smoke(engine, REPO_CONFIG)
    assert result.ok, result.detail
    if engine == "llm":
        assert "persona-merged.gguf" in result.detail  # what calls load
        assert "AVX" in result.info["system_info"]
    if engine == "stt":
        assert "CTranslate2 " in result.detail  # the kernels it chose on this CPU


def test_the_whisper_kernels_are_read_from_ctranslate2s_log():
    intel = (
        "[info] CPU: GenuineIntel (SSE4.1=true, AVX=true, AVX2=true, AVX512=true)\n"
        "[info]  - Selected ISA: AVX512\n[info]  - Use Intel MKL: true\n"
    )
    assert ctranslate2_kernels(intel) == "CTranslate2 AVX512, MKL"
    amd = "[info]  - Selected ISA: AVX2\n[info]  - Use Intel MKL: false\n"
    assert ctranslate2_kernels(amd) == "CTranslate2 AVX2, oneDNN"
    assert ctranslate2_kernels("") == ""


@pytest.mark.models
def test_kernels_chosen_by_hand_are_the_ones_named(monkeypatch):
    # How a box reproduces another CPU's hearing: CTranslate2's own switch.
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "GENERIC")
    result = run_smoke("stt", REPO_CONFIG)
    assert result.ok and result.info["kernels"].startswith("CTranslate2 GENERIC"), result


@pytest.mark.models
def test_a_segfaulting_engine_is_named_by_run_smoke(monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "llm")
    result = run_smoke("llm", REPO_CONFIG)
    assert not result.ok and "died by SIGSEGV" in result.detail


@pytest.mark.models
def test_doctor_names_a_crashing_engine_and_exits_non_zero(tmp_path):
    from ..conftest import make_config
    from ..sip_support import free_port

    config = make_config(tmp_path, sip={"port": free_port()})
    result = run_cli("doctor", config=config, env={CRASH_ENV: "stt"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    failed = [x for x in result.stdout.splitlines() if x.startswith("FAIL")]
    assert len(failed) == 1, result.stdout
    assert "engine stt" in failed[0] and "SIGSEGV" in failed[0] and "ctranslate2" in failed[0]
    healthy = [x for x in result.stdout.splitlines() if "engine llm" in x or "llama build" in x]
    assert len(healthy) == 2 and all(x.startswith("ok") for x in healthy), result.stdout
    assert os.environ.get(CRASH_ENV) is None
