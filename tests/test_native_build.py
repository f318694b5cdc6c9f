"""The llama.cpp build: portable flags from the CPU's own, never AMX, and the installed build."""

import subprocess
import sys
from pathlib import Path

import pytest

from ceoline.native_build import (
    BUILD_RECORD,
    built_features,
    cmake_flags,
    cpu_flags,
    judge_build,
    this_cpu,
)

from .conftest import DATA, ROOT

CPUINFO = DATA / "cpuinfo"
SAPPHIRE_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
    "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
    "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)


def flags_of(name: str) -> set[str]:
    return cpu_flags((CPUINFO / name).read_text())


def test_sapphire_rapids_gets_avx512_and_vnni_but_never_amx():
    args = cmake_flags(flags_of("sapphire-rapids.txt"))
    assert args[0] == "-DGGML_NATIVE=OFF"
    for on in ("AVX2", "FMA", "F16C", "AVX_VNNI", "AVX512", "AVX512_VNNI", "AVX512_BF16"):
        assert f"-DGGML_{on}=ON" in args
    for amx in ("AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{amx}=OFF" in args


def test_an_older_cpu_gets_no_avx512():
    args = cmake_flags(flags_of("haswell.txt"))
    assert "-DGGML_AVX2=ON" in args and "-DGGML_FMA=ON" in args
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX_VNNI=OFF" in args


def test_the_first_processor_counts():
    assert "amx_int8" in flags_of("sapphire-rapids.txt")
    assert cpu_flags("no flags here") == set()


def test_the_makefile_script_prints_the_flags_with_plain_python():
    # The Makefile runs it before the venv exists: no package import, no third-party module.
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            str(ROOT / "src/ceoline/native_build.py"),
            "--cpuinfo",
            str(CPUINFO / "haswell.txt"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == cmake_flags(flags_of("haswell.txt"))
    bad = subprocess.run(
        [sys.executable, "-I", str(ROOT / "src/ceoline/native_build.py"), "--cpuinfo", "/nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: cannot read /nope")


def test_system_info_is_read_feature_by_feature():
    features = built_features(SAPPHIRE_INFO)
    assert {"SSE3", "AVX2", "AVX512", "AMX_INT8"} <= features
    assert "LLAMAFILE" not in features  # not an instruction set
    assert built_features("CPU : AVX = 0 | AVX2 = 1 |") == {"AVX2"}


def test_an_amx_build_is_refused_by_name():
    verdict = judge_build(built_features(SAPPHIRE_INFO), flags_of("sapphire-rapids.txt"), None)
    assert not verdict.ok and "AMX" in verdict.detail and "make clean install" in verdict.detail


def test_a_build_for_a_bigger_cpu_is_refused_before_it_dies_by_sigill():
    info = SAPPHIRE_INFO.replace("AMX_INT8 = 1", "AMX_INT8 = 0")
    verdict = judge_build(built_features(info), flags_of("haswell.txt"), None)
    assert not verdict.ok and "SIGILL" in verdict.detail and "AVX512" in verdict.detail


def test_a_build_recorded_for_other_flags_is_refused():
    flags = flags_of("sapphire-rapids.txt")
    features = built_features(SAPPHIRE_INFO.replace("AMX_INT8 = 1", "AMX_INT8 = 0"))
    record = "0.3.36 " + " ".join(cmake_flags(flags_of("haswell.txt")))
    assert not judge_build(features, flags, record).ok
    good = "0.3.36 " + " ".join(cmake_flags(flags)) + " -DGGML_CUDA=on"
    assert judge_build(features, flags, good).ok


@pytest.mark.skipif(not this_cpu(), reason="no /proc/cpuinfo flags on this machine")
def test_the_installed_llama_cpp_is_the_portable_build_for_this_cpu():
    from llama_cpp import llama_cpp

    flags = this_cpu()
    info = llama_cpp.llama_print_system_info().decode()
    features = built_features(info)
    assert "AMX_INT8" not in features, info
    if "avx2" in flags:
        assert "AVX2" in features, info
    if {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"} <= flags:
        assert "AVX512" in features, info
    if "avx512_vnni" in flags:
        assert "AVX512_VNNI" in features, info
    record = Path(sys.prefix) / BUILD_RECORD
    assert record.exists(), f"llama-cpp-python was not built by `make install` ({record} missing)"
    assert " ".join(cmake_flags(flags)) in record.read_text()
    assert judge_build(features, flags, record.read_text()).ok


def dry_install(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "install", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def another_cpu(flags: set[str]) -> Path:
    """A cpuinfo fixture whose build flags differ from these: Haswell and Sapphire Rapids differ
    from each other, so one of them differs from any CPU."""
    mine = cmake_flags(flags)
    for fixture in sorted(CPUINFO.glob("*.txt")):
        if cmake_flags(cpu_flags(fixture.read_text())) != mine:
            return fixture
    raise AssertionError(f"every fixture in {CPUINFO} builds like this CPU")


def test_another_cpu_is_one_whose_build_differs_from_this_one():
    haswell, sapphire = flags_of("haswell.txt"), flags_of("sapphire-rapids.txt")
    assert another_cpu(haswell).name == "sapphire-rapids.txt"
    assert another_cpu(sapphire).name == "haswell.txt"


@pytest.mark.skipif(not (Path(sys.prefix) / BUILD_RECORD).exists(), reason="not a make venv")
def test_another_cpu_or_a_gpu_flag_rebuilds_and_this_one_does_not():
    assert "building llama-cpp-python" not in dry_install()
    fixture = another_cpu(this_cpu())
    other_cpu = dry_install(f"CPUINFO={fixture}")
    assert "building llama-cpp-python" in other_cpu, f"{fixture.name} should rebuild"
    assert " ".join(cmake_flags(cpu_flags(fixture.read_text()))) in other_cpu, fixture.name
    assert "--no-cache-dir" in other_cpu
    gpu = dry_install("LLAMA_EXTRA=-DGGML_CUDA=on")
    assert "building llama-cpp-python" in gpu and "-DGGML_AMX_BF16=OFF -DGGML_CUDA=on" in gpu
