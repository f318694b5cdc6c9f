"""Smoke tests of the native engines, each in a child process, so a crash becomes one line.

llama.cpp, CTranslate2 and onnxruntime are native code: built for the wrong CPU they die by
SIGSEGV or SIGILL, which in-process would take the caller (doctor, a test fixture, `serve`)
down with no word of which engine it was. A child that dies tells the parent by its signal.

The child is `python -m ceoline.admin.smoke ENGINE [--config FILE]`; it prints one JSON line.
For tests only, ``CEOLINE_SMOKE_CRASH=ENGINE`` makes that child kill itself with SIGSEGV once
the engine is loaded, the way a miscompiled kernel would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ceoline.errors import CeolineError

CRASH_ENV = "CEOLINE_SMOKE_CRASH"

ENGINES = ("llm", "stt", "tts", "turn", "echo")

WHAT = {
    "llm": "LLM (llama.cpp: load with the adapter, 4 tokens)",
    "stt": "Whisper (CTranslate2: 1 s of audio)",
    "tts": "Piper (onnxruntime: one word)",
    "turn": "Smart Turn (onnxruntime: 1 s of audio)",
    "echo": "Echo canceller (WebRTC AEC3 from livekit: 2 s of echo)",
}

FIX = {
    "llm": "rebuild llama-cpp-python for this CPU: make clean install",
    "stt": "reinstall CTranslate2: .venv/bin/pip install --force-reinstall ctranslate2",
    "tts": "reinstall onnxruntime: .venv/bin/pip install --force-reinstall onnxruntime",
    "turn": "reinstall onnxruntime and pipecat-ai: make clean install",
    "echo": "reinstall livekit: .venv/bin/pip install --force-reinstall livekit==1.2.1",
}


@dataclass(frozen=True)
class SmokeResult:
    engine: str
    ok: bool
    detail: str
    info: dict


def run_smoke(
    engine: str, config_file: Path | None, timeout_s: float = 180, python: str = sys.executable
) -> SmokeResult:
    """Run one engine's smoke test in a child process; never raises for what the child does."""
    cmd = [python, "-m", "ceoline.admin.smoke", engine]
    if config_file is not None:
        cmd += ["--config", str(config_file)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return SmokeResult(
            engine,
            False,
            f"{WHAT[engine]} did not finish in {timeout_s:.0f} s; {FIX[engine]}",
            {},
        )
    return judge(engine, done.returncode, done.stdout, done.stderr)


def judge(engine: str, returncode: int, stdout: str, stderr: str) -> SmokeResult:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return SmokeResult(engine, False, f"{WHAT[engine]} died by {name}; {FIX[engine]}", {})
    if returncode != 0:
        lines = [x for x in stderr.splitlines() if x.strip()]
        last = lines[-1].removeprefix("error: ") if lines else f"exit status {returncode}"
        return SmokeResult(engine, False, f"{WHAT[engine]} failed: {last[:300]}", {})
    try:
        info = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return SmokeResult(engine, False, f"{WHAT[engine]} printed no result; {FIX[engine]}", {})
    detail = info.get("detail", "")
    if engine == "stt" and (kernels := ctranslate2_kernels(stderr)):
        info["kernels"] = kernels
        detail = f"{detail} ({kernels})"
    return SmokeResult(engine, True, detail, info)


def ctranslate2_kernels(log: str) -> str:
    """The kernels CTranslate2 chose, from its own start-up log: it takes AVX-512 and Intel
    MKL only on Intel CPUs, AVX2 and oneDNN elsewhere, so the same audio can be heard as
    different words on two boxes (CT2_FORCE_CPU_ISA and CT2_USE_MKL choose them by hand)."""
    isa = re.search(r"Selected ISA: (\w+)", log)
    mkl = re.search(r"Use Intel MKL: (\w+)", log)
    if not isa:
        return ""
    return f"CTranslate2 {isa.group(1)}, {'MKL' if mkl and mkl.group(1) == 'true' else 'oneDNN'}"


def _crash_if_asked(engine: str) -> None:
    if os.environ.get(CRASH_ENV) == engine:
        os.kill(os.getpid(), signal.SIGSEGV)


def _llm(config) -> dict:
    from llama_cpp import llama_cpp

    from ceoline.engines import locate_all, reply_model
    from ceoline.locator import HashCache
    from ceoline.voice.llm import LanguageModel, Message

    models = locate_all(config)
    model, adapter = reply_model(config, models, HashCache(None))
    llm = LanguageModel(model, config.llm, config.runtime, adapter=adapter)
    _crash_if_asked("llm")
    started = time.perf_counter()
    text = "".join(llm.stream([Message("user", "Say hello.")], max_tokens=4))
    elapsed = (time.perf_counter() - started) * 1000
    system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    with_adapter = f" with {adapter.path.name}" if adapter else ""
    return {
        "detail": f"{model.path.name}{with_adapter}: {text.strip()!r} in {elapsed:.0f} ms",
        "system_info": system_info,
    }


def _stt(config) -> dict:
    import numpy as np

    from ceoline.locator import locate
    from ceoline.voice.audio import SAMPLE_RATE
    from ceoline.voice.stt import Transcriber

    model = locate("stt", config.models.stt, config.models_dir)
    if config.runtime.device == "cpu":
        import logging

        import ctranslate2

        ctranslate2.set_log_level(logging.INFO)  # its start-up lines name the kernels it chose
    transcriber = Transcriber(model, config.stt, config.runtime)
    _crash_if_asked("stt")
    # A quiet tone, not silence: the encoder and decoder both run.
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (np.sin(2 * np.pi * 220 * t) * 3000).astype(np.int16)
    heard = transcriber.transcribe(tone)
    return {"detail": f"{model.path.name}: 1 s in {heard.elapsed_ms:.0f} ms"}


def _tts(config) -> dict:
    from ceoline.locator import locate
    from ceoline.voice.tts import Synthesizer

    model = locate("tts", config.models.tts, config.models_dir)
    synthesizer = Synthesizer(model, config.tts, config.runtime)
    _crash_if_asked("tts")
    speech = synthesizer.synthesize("Hello.")
    if len(speech.pcm) == 0:
        raise CeolineError(f"{model.path.name} synthesized no audio for 'Hello.'")
    return {
        "detail": f"{model.path.name}: 'Hello.' in {speech.elapsed_ms:.0f} ms "
        f"({len(speech.pcm) / 16000:.2f} s of audio)"
    }


def _turn(config) -> dict:
    import numpy as np

    from ceoline.locator import locate
    from ceoline.voice.audio import SAMPLE_RATE
    from ceoline.voice.turn_model import TurnModel

    if config.turn.detector != "smart-turn":
        return {"detail": f'off ([turn] detector = "{config.turn.detector}")'}
    model = locate("turn", config.models.turn, config.models_dir)
    turn_model = TurnModel(model, config.runtime)
    _crash_if_asked("turn")
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (np.sin(2 * np.pi * 220 * t) * 3000).astype(np.int16)
    verdict = turn_model.judge(tone)
    return {"detail": f"{model.path.name}: 1 s in {verdict.elapsed_ms:.0f} ms"}


def _echo(config) -> dict:
    import numpy as np

    from ceoline.voice.audio import SAMPLE_RATE, frames
    from ceoline.voice.echo import EchoCanceller

    if config.echo.canceller == "off":
        return {"detail": 'off ([echo] canceller = "off")'}
    canceller = EchoCanceller(config.echo)
    _crash_if_asked("echo")
    # Broadband bursts, not a tone: a canceller cannot tell a pure tone's delay.
    rng = np.random.default_rng(0)
    n = 2 * SAMPLE_RATE
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * np.arange(n) / SAMPLE_RATE)
    sent = (rng.standard_normal(n) * envelope * 4000).astype(np.int16)
    echo = np.concatenate([np.zeros(1920), sent[:-1920] * 0.3]).astype(np.int16)  # 120 ms
    left = []
    for out, back in zip(frames(sent), frames(echo), strict=True):
        left.append(canceller.clean(back))
        canceller.played(out)
    tail = np.frombuffer(b"".join(left), np.int16)[SAMPLE_RATE:].astype(np.float64)
    power = np.mean(echo[SAMPLE_RATE:].astype(np.float64) ** 2)
    erle = 10 * np.log10(power / (np.mean(tail**2) + 1e-3))
    if erle < 20:
        raise CeolineError(f"the echo canceller took only {erle:.1f} dB off a plain echo")
    return {"detail": f"ERLE {erle:.0f} dB on 120 ms of echo, {canceller.summary()}"}


def _child(argv: list[str]) -> int:
    import argparse

    from ceoline.config import load_config

    parser = argparse.ArgumentParser(prog="python -m ceoline.admin.smoke")
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        engines = {"llm": _llm, "stt": _stt, "tts": _tts, "turn": _turn, "echo": _echo}
        result = engines[args.engine](config)
    except CeolineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
