"""What the llama.cpp build does on this CPU: prompt prefill and decode tokens/s, base, adapter
and merged.

Prefill evaluates a 250-token prompt from an empty KV cache; decode generates 64 tokens
greedily after it, with the model and threads calls use. Each round is a fresh process that
warms up and measures `--runs` times; figures are medians over `--rounds` rounds. `--compare
DIR` measures another llama-cpp-python build too (a directory holding its `llama_cpp`
package, e.g. made with `pip install --target DIR --no-deps llama_cpp_python-*.whl`),
alternating the two round by round, and prints the ratio of this build to that one.
`--merged FILE` measures a merged persona model too (`ceoline persona merge`), and prints its
ratio to the base with the adapter applied at run time.

    .venv/bin/python scripts/llama_bench.py [--rounds 5] [--compare DIR] [--merged FILE] [--json]
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
from ceoline.locator import HashCache, ModelFiles  # noqa: E402
from ceoline.native_build import built_features  # noqa: E402
from ceoline.voice.llm import llama_options  # noqa: E402

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


VARIANTS = ("base", "adapter", "merged")


def run_here(runs: int, config_file: Path | None, merged: Path | None) -> dict:
    from llama_cpp import Llama, llama_cpp

    config = load_config(config_file)
    models = locate_all(config)
    adapter = fitting_adapter(config, models, HashCache(None))
    result: dict = {
        "llama_cpp": str(Path(sys.modules["llama_cpp"].__file__).parent),
        "features": sorted(
            built_features(llama_cpp.llama_print_system_info().decode("utf-8", "replace"))
        ),
        "threads": config.runtime.all_threads,
    }
    variants = {"base": (models["llm"], None)}
    if adapter is not None:
        variants["adapter"] = (models["llm"], adapter)
    if merged is not None:
        merged_files = ModelFiles("llm", str(merged), merged, merged.parent, (merged,))
        variants["merged"] = (merged_files, None)
    for name, (model, files) in variants.items():
        llama = Llama(**llama_options(model, config.llm, config.runtime, files))
        tokens = prompt_tokens(llama)
        measure(llama, tokens)  # warm-up: page the weights in
        figures = [measure(llama, tokens) for _ in range(runs)]
        result[name] = {
            "prefill_tok_s": round(statistics.median(f[0] for f in figures), 1),
            "decode_tok_s": round(statistics.median(f[1] for f in figures), 1),
        }
        del llama
    return result


def child(build: Path | None, runs: int, config: Path | None, merged: Path | None) -> dict:
    """One round of measurements in a fresh process, ``build``'s llama_cpp first on the path."""
    cmd = [sys.executable, __file__, "--child", "--runs", str(runs)]
    if config:
        cmd += ["--config", str(config)]
    if merged:
        cmd += ["--merged", str(merged)]
    env = dict(os.environ)
    if build is not None:
        env["PYTHONPATH"] = str(build)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        reason = f"signal {-done.returncode}" if done.returncode < 0 else done.stderr[-300:]
        return {"crashed": reason}
    return json.loads(done.stdout)


def combine(rounds: list[dict]) -> dict:
    """Median over rounds of each round's median."""
    if any("crashed" in r for r in rounds):
        return next(r for r in rounds if "crashed" in r)
    out = {k: rounds[0][k] for k in ("llama_cpp", "features", "threads")}
    for variant in VARIANTS:
        if variant in rounds[0]:
            out[variant] = {
                key: round(statistics.median(r[variant][key] for r in rounds), 1)
                for key in ("prefill_tok_s", "decode_tok_s")
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per build")
    parser.add_argument("--runs", type=int, default=3, help="measurements per round")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--compare", type=Path, help="another llama-cpp-python build to measure")
    parser.add_argument("--merged", type=Path, help="a merged persona model to measure too")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_here(args.runs, args.config, args.merged)))
        return
    if args.merged is not None and not args.merged.is_file():
        sys.exit(f"error: --merged {args.merged}: no such file; `ceoline persona merge` writes it")
    if args.compare is not None and not (args.compare / "llama_cpp").is_dir():
        sys.exit(f"error: {args.compare} holds no llama_cpp package; see --help")
    labels: dict[str, Path | None] = {"this build": None}
    if args.compare is not None:
        labels[str(args.compare)] = args.compare
    rounds: dict[str, list[dict]] = {label: [] for label in labels}
    # Alternate the builds round by round, so drift on a shared box hits both alike.
    for _ in range(args.rounds):
        for label, build in labels.items():
            rounds[label].append(child(build, args.runs, args.config, args.merged))
    builds = {label: combine(r) for label, r in rounds.items()}
    if args.json:
        print(json.dumps(builds))
        return
    for label, figures in builds.items():
        print(f"{label}: {figures.get('llama_cpp', '')}")
        if "crashed" in figures:
            print(f"  crashed: {figures['crashed']}")
            continue
        print(f"  features: {' '.join(figures['features'])}  threads {figures['threads']}")
        for variant in VARIANTS:
            if variant in figures:
                f = figures[variant]
                print(
                    f"  {variant:<8} prefill {f['prefill_tok_s']:7.1f} tok/s "
                    f"({PROMPT_TOKENS} tokens)   decode {f['decode_tok_s']:6.1f} tok/s"
                )
        if "merged" in figures and "adapter" in figures:
            m, a = figures["merged"], figures["adapter"]
            print(
                f"  merged/adapter: prefill {m['prefill_tok_s'] / a['prefill_tok_s']:.2f}x, "
                f"decode {m['decode_tok_s'] / a['decode_tok_s']:.2f}x"
            )
    if len(builds) == 2:
        this, other = builds.values()
        if "crashed" not in other:
            for variant in VARIANTS:
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
