"""Load on the shared inference service: N callers start a reply at the same moment.

Each caller sends what a call sends (the persona's system prompt and a caller's words, through
the same client a call uses) and streams a 60-token reply. Reported per level: time to first
token p50/p95, whole reply p50/p95, and tokens per second over all streams. The service is
started from the config ([inference] mode is taken as "shared"), or a running one is used.

    .venv/bin/python scripts/inference_load.py [--levels 1,2,4] [--rounds 3] [--json]
    .venv/bin/python scripts/inference_load.py --levels 1,8,32,64 --parallel 64   # GPU box
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.config import load_config  # noqa: E402
from ceoline.engines import locate_all, reply_model, start_inference  # noqa: E402
from ceoline.inference.client import SharedLanguageModel  # noqa: E402
from ceoline.inference.service import health  # noqa: E402
from ceoline.locator import HashCache  # noqa: E402
from ceoline.persona.profile import load_persona  # noqa: E402
from ceoline.voice.llm import Message  # noqa: E402
from ceoline.voice.timings import percentile  # noqa: E402

WORDS = [
    "I would like the app to show my payment history.",
    "The invoice screen is slow when I have many clients.",
    "Why did you start the company?",
    "Please add a dark mode to the mobile app.",
    "I was charged twice for my subscription this month.",
    "What is the mission of your company?",
    "The export to Excel keeps failing on large reports.",
    "Can the reminders be sent in Swedish too?",
]
REPLY_TOKENS = 60


def one_caller(model, system: str, words: str, start: threading.Barrier, out: list) -> None:
    messages = [Message("system", system), Message("user", words)]
    start.wait()
    began = time.perf_counter()
    first = None
    tokens = 0
    for _ in model.stream(messages, max_tokens=REPLY_TOKENS):
        if first is None:
            first = time.perf_counter() - began
        tokens += 1
    out.append((first, time.perf_counter() - began, tokens))


def level(model, system: str, callers: int, rounds: int) -> dict:
    results: list = []
    wall = 0.0
    for r in range(rounds):
        barrier = threading.Barrier(callers + 1)
        threads = [
            threading.Thread(
                target=one_caller,
                args=(model, system, WORDS[(r * callers + i) % len(WORDS)], barrier, results),
            )
            for i in range(callers)
        ]
        for t in threads:
            t.start()
        barrier.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        wall += time.perf_counter() - began
    firsts = [f * 1000 for f, _, _ in results if f is not None]
    totals = [t * 1000 for _, t, _ in results]
    return {
        "callers": callers,
        "replies": len(results),
        "first_token_p50_ms": percentile(firsts, 50),
        "first_token_p95_ms": percentile(firsts, 95),
        "reply_p50_ms": percentile(totals, 50),
        "reply_p95_ms": percentile(totals, 95),
        "tokens_per_s": round(sum(n for _, _, n in results) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--levels", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=0, help="slots (default: top level)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    config = load_config(args.config)
    inference = dataclasses.replace(
        config.inference, mode="shared", parallel=args.parallel or max(levels)
    )
    config = dataclasses.replace(config, inference=inference)
    service = None if health(config) else start_inference(config)
    try:
        model_files, _ = reply_model(config, locate_all(config), HashCache(None))
        model = SharedLanguageModel(model_files, config.llm, config.inference)
        system = load_persona(config.persona_file).system_prompt()
        model.warm(system)
        report = {
            "device": config.runtime.device,
            "parallel": inference.parallel,
            "levels": [level(model, system, n, args.rounds) for n in levels],
        }
    finally:
        if service is not None:
            service.stop()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"device {report['device']}, {report['parallel']} slots, {REPLY_TOKENS}-token replies")
    print("callers  first token p50   p95   reply p50    p95   tokens/s")
    for lv in report["levels"]:
        print(
            f"{lv['callers']:>7}  {lv['first_token_p50_ms']:>15.0f} "
            f"{lv['first_token_p95_ms']:>5.0f}"
            f"  {lv['reply_p50_ms']:>9.0f} {lv['reply_p95_ms']:>6.0f}  {lv['tokens_per_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
