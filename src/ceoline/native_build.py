"""What the native engines are built for, against what this CPU can run (stdlib only).

llama.cpp's default `GGML_NATIVE=ON` compiles with `-march=native`, which on Sapphire and
Granite Rapids turns on the AMX backend; on virtualised CPUs of that family it segfaults in
`ggml_backend_amx_mul_mat` at the first decode (llama.cpp issue 20824). So the build names
each instruction set itself, from the flags the kernel reports, and never enables AMX. The
AVX-512 family and VNNI stay on where present: they carry most of the quantised matmul speed.

The Makefile runs this file as a script, before the virtualenv exists, to get the CMake
flags (`python3 src/ceoline/native_build.py`); it hashes them into the install stamp, so a box
with other flags rebuilds, and records them in the venv (:data:`BUILD_RECORD`) for
`ceoline doctor`. Extra flags (`-DGGML_CUDA=on` on a GPU box) are appended by the Makefile.
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

# GGML option -> every /proc/cpuinfo flag it needs. GGML_AVX512 compiles with
# -mavx512f/cd/vl/dq/bw, so all five must be present.
FEATURES: dict[str, tuple[str, ...]] = {
    "GGML_SSE42": ("sse4_2",),
    "GGML_AVX": ("avx",),
    "GGML_AVX2": ("avx2",),
    "GGML_FMA": ("fma",),
    "GGML_F16C": ("f16c",),
    "GGML_BMI2": ("bmi2",),
    "GGML_AVX_VNNI": ("avx_vnni",),
    "GGML_AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
    "GGML_AVX512_VBMI": ("avx512f", "avx512vbmi"),
    "GGML_AVX512_VNNI": ("avx512f", "avx512_vnni"),
    "GGML_AVX512_BF16": ("avx512f", "avx512_bf16"),
}
# Never on, whatever the CPU says (see the module docstring).
ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

# Names in llama_print_system_info()'s CPU line -> the cpuinfo flags that code needs.
SYSTEM_INFO_NEEDS: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": FEATURES["GGML_AVX512"],
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_int8", "amx_tile"),
}

BUILD_RECORD = "llama-cpp-build.txt"


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def this_cpu() -> set[str]:
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return set()


def cmake_flags(flags: set[str]) -> list[str]:
    """The portable llama.cpp flags for a CPU with these cpuinfo flags."""
    args = ["-DGGML_NATIVE=OFF"]
    for option, needs in FEATURES.items():
        args.append(f"-D{option}={'ON' if all(f in flags for f in needs) else 'OFF'}")
    args.extend(f"-D{option}=OFF" for option in ALWAYS_OFF)
    return args


def built_features(system_info: str) -> set[str]:
    """The CPU features a llama.cpp build was compiled with, from llama_print_system_info()."""
    features = set()
    for part in system_info.replace("|", "\n").splitlines():
        name, sep, value = part.partition("=")
        # The first entry carries the backend label: "CPU : SSE3 = 1".
        name = name.rsplit(":", 1)[-1].strip()
        if sep and value.strip() == "1" and name in SYSTEM_INFO_NEEDS:
            features.add(name)
    return features


@dataclass(frozen=True)
class BuildVerdict:
    ok: bool
    detail: str


def judge_build(features: set[str], flags: set[str], record: str | None) -> BuildVerdict:
    """Would this llama.cpp build run safely, and at full speed, on a CPU with these flags?

    ``record`` is the build record `make install` left in the venv (version and CMake flags),
    or None when llama-cpp-python was installed some other way.
    """
    rebuild = "rebuild llama-cpp-python for this CPU: make clean install"
    if "AMX_INT8" in features:
        return BuildVerdict(
            False,
            "llama.cpp was built with AMX, which segfaults on virtualised Sapphire/Granite "
            f"Rapids; {rebuild}",
        )
    foreign = sorted(f for f in features if not all(n in flags for n in SYSTEM_INFO_NEEDS[f]))
    if flags and foreign:
        return BuildVerdict(
            False,
            f"llama.cpp was built for another CPU ({', '.join(foreign)} not on this one: it "
            f"would die by SIGILL); {rebuild}",
        )
    listed = " ".join(sorted(features - {"SSE3", "SSSE3"})) or "no SIMD"
    if record is None:
        return BuildVerdict(True, f"{listed} (not built by `make install`: flags unknown)")
    if flags and " ".join(cmake_flags(flags)) not in record:
        return BuildVerdict(
            False, f"llama.cpp was built with other flags than this CPU's ({record}); {rebuild}"
        )
    return BuildVerdict(True, f"{listed}, portable (GGML_NATIVE=OFF, no AMX)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print llama.cpp's CMake flags for this CPU.")
    parser.add_argument("--cpuinfo", type=Path, default=Path("/proc/cpuinfo"))
    parser.add_argument("--explain", action="store_true", help="one option per line, with why")
    args = parser.parse_args(argv)
    if platform.machine() not in ("x86_64", "AMD64") and args.cpuinfo == Path("/proc/cpuinfo"):
        # Other architectures keep llama.cpp's own per-architecture defaults, still not native.
        print("-DGGML_NATIVE=OFF")
        return 0
    try:
        flags = cpu_flags(args.cpuinfo.read_text())
    except OSError as exc:
        print(f"error: cannot read {args.cpuinfo} ({exc.strerror})", file=sys.stderr)
        return 1
    if not flags:
        print(f"error: no 'flags' line in {args.cpuinfo}", file=sys.stderr)
        return 1
    result = cmake_flags(flags)
    if not args.explain:
        print(" ".join(result))
        return 0
    for arg in result:
        option = arg[2:].split("=")[0]
        why = ""
        if option in ALWAYS_OFF:
            why = "never: segfaults on virtualised AMX CPUs"
        elif option in FEATURES:
            why = "needs " + ", ".join(FEATURES[option])
        print(f"{arg:<24} {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
