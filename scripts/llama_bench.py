"""What the llama.cpp build does on this CPU: prompt prefill and decode tokens/s, base and adapter.

Prefill evaluates a 250-token prompt from an empty KV cache; decode generates 64 tokens
greedily after it. Each figure is the median of `--runs` runs, with the model and threads
calls use. `--compare DIR` also runs the same measurements with another llama-cpp-python
build (a directory holding its `llama_cpp` package, e.g. made with
`pip install --target DIR --no-deps llama_cpp_python-*.whl`) in a child process, and prints
the ratio of this build to that one.

    .venv/bin/python scripts/llama_bench.py [--runs 5] [--compare DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.config import load_config  # noqa: E402
from ceoline.engines import fitting_adapter, locate_all  # noqa: E402
from ceoline.llm import llama_options  # noqa: E402
from ceoline.locator import HashCache  # noqa: E402
from ceoline.native_build import built_features  # noqa: E402

PROMPT_TOKENS = 250
DECODE_TOKENS = 64


def measure(llama, tokens: list[int]) -> tuple[float, float]:
    """(prefill tokens/s, decode tokens/s) for one run from an empty cache."""
    llama.reset()
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llama.generate(tokens, temp=0.0, top_k=1, reset=True):
        now = time.perf_counter()
        if first is None:
            first = now
        count += 1
        if count > DECODE_TOKENS:
            break
    assert first is not None
    prefill = len(tokens) / (first - started)
    decode = (count - 1) / (time.perf_counter() - first)
    return prefill, decode


def prompt_tokens(llama) -> list[int]:
    notes = " ".join(p.read_text() for p in sorted((ROOT / "configs/knowledge").glob("*.md")))
    tokens = llama.tokenize(notes.encode(), add_bos=True)
    if len(tokens) < PROMPT_TOKENS:
        tokens = (tokens * (PROMPT_TOKENS // len(tokens) + 1))[:PROMPT_TOKENS]
    return tokens[:PROMPT_TOKENS]


def run_here(runs: int, config_file: Path | None) -> dict:
    from llama_cpp import Llama, llama_cpp

    config = load_config(config_file)
    models = locate_all(config)
    adapter = fitting_adapter(config, models, HashCache(None))
    result: dict = {
        "llama_cpp": str(Path(sys.modules["llama_cpp"].__file__).parent),
        "features": sorted(
            built_features(llama_cpp.llama_print_system_info().decode("utf-8", "replace"))
        ),
        "threads": config.runtime.threads,
    }
    variants = {"base": None}
    if adapter is not None:
        variants["adapter"] = adapter
    for name, files in variants.items():
        llama = Llama(**llama_options(models["llm"], config.llm, config.runtime, files))
        tokens = prompt_tokens(llama)
        measure(llama, tokens)  # warm-up: page the weights in
        figures = [measure(llama, tokens) for _ in range(runs)]
        result[name] = {
            "prefill_tok_s": round(statistics.median(f[0] for f in figures), 1),
            "decode_tok_s": round(statistics.median(f[1] for f in figures), 1),
        }
        del llama
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--compare", type=Path, help="another llama-cpp-python build to measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    builds = {"this build": run_here(args.runs, args.config)}
    if args.compare is not None:
        if not (args.compare / "llama_cpp").is_dir():
            sys.exit(f"error: {args.compare} holds no llama_cpp package; see --help")
        cmd = [sys.executable, __file__, "--runs", str(args.runs), "--json"]
        if args.config:
            cmd += ["--config", str(args.config)]
        env = {**os.environ, "PYTHONPATH": str(args.compare)}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            reason = f"signal {-done.returncode}" if done.returncode < 0 else done.stderr[-300:]
            builds[str(args.compare)] = {"crashed": reason}
        else:
            builds[str(args.compare)] = json.loads(done.stdout)["this build"]
    if args.json:
        print(json.dumps(builds))
        return
    for label, figures in builds.items():
        print(f"{label}: {figures.get('llama_cpp', '')}")
        if "crashed" in figures:
            print(f"  crashed: {figures['crashed']}")
            continue
        print(f"  features: {' '.join(figures['features'])}  threads {figures['threads']}")
        for variant in ("base", "adapter"):
            if variant in figures:
                f = figures[variant]
                print(
                    f"  {variant:<8} prefill {f['prefill_tok_s']:7.1f} tok/s "
                    f"({PROMPT_TOKENS} tokens)   decode {f['decode_tok_s']:6.1f} tok/s"
                )
    if len(builds) == 2:
        this, other = builds.values()
        if "crashed" not in other:
            for variant in ("base", "adapter"):
                if variant in this and variant in other:
                    ratios = {
                        k: this[variant][k] / other[variant][k]
                        for k in ("prefill_tok_s", "decode_tok_s")
                    }
                    print(
                        f"  ratio this/other, {variant}: prefill {ratios['prefill_tok_s']:.2f}x, "
                        f"decode {ratios['decode_tok_s']:.2f}x"
                    )


if __name__ == "__main__":
    main()
