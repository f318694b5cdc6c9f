"""What the persona adapter costs per turn: LLM first token and whole reply, base vs adapter.

Both variants answer the same held-out prompts (with the notes a call would retrieve) in the
same run, alternating, with the llama.cpp settings calls use. Reports p50/p95 per variant and
the adapter/base ratio.

    .venv/bin/python scripts/persona_bench.py [--prompts 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.config import load_config  # noqa: E402
from ceoline.engines import HASH_CACHE_NAME, fitting_adapter, locate_all  # noqa: E402
from ceoline.locator import HashCache  # noqa: E402
from ceoline.persona.corpus import chat_messages, load_examples, notes_for  # noqa: E402
from ceoline.persona.profile import load_persona  # noqa: E402
from ceoline.trust.knowledge import open_knowledge  # noqa: E402
from ceoline.voice.llm import LanguageModel  # noqa: E402
from ceoline.voice.timings import percentile  # noqa: E402


def one_turn(lm: LanguageModel, messages) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    for _ in lm.stream(messages):
        if first is None:
            first = time.perf_counter() - started
    return (first or 0.0) * 1000, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = load_config(args.config)
    persona = load_persona(config.persona_file)
    models = locate_all(config)
    adapter = fitting_adapter(config, models, HashCache(config.data_dir / HASH_CACHE_NAME))
    if adapter is None:
        sys.exit('error: [models] adapter = "": nothing to compare; set one')
    knowledge = open_knowledge(config)
    examples = load_examples(config.path(config.persona.train.heldout))[: args.prompts]
    variants = {
        "base": LanguageModel(models["llm"], config.llm, config.runtime),
        "adapter": LanguageModel(models["llm"], config.llm, config.runtime, adapter=adapter),
    }
    for lm in variants.values():
        lm.warm(persona.system_prompt())
    measured: dict[str, dict[str, list[float]]] = {
        name: {"first_token_ms": [], "reply_ms": []} for name in variants
    }
    for example in examples:
        notes = notes_for(config, persona, knowledge, example.prompt)
        messages = chat_messages(persona, example.prompt, notes=notes)
        for name, lm in variants.items():
            first, whole = one_turn(lm, messages)
            measured[name]["first_token_ms"].append(first)
            measured[name]["reply_ms"].append(whole)
    report = {
        name: {
            metric: {"p50": round(percentile(v, 50)), "p95": round(percentile(v, 95))}
            for metric, v in metrics.items()
        }
        for name, metrics in measured.items()
    }
    report["ratio_adapter_to_base_p50"] = {
        metric: round(
            percentile(measured["adapter"][metric], 50)
            / max(1e-9, percentile(measured["base"][metric], 50)),
            2,
        )
        for metric in ("first_token_ms", "reply_ms")
    }
    report["prompts"] = len(examples)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(examples)} held-out prompts, {config.runtime.stage_threads} threads")
    for metric in ("first_token_ms", "reply_ms"):
        base, lora = report["base"][metric], report["adapter"][metric]
        ratio = report["ratio_adapter_to_base_p50"][metric]
        print(
            f"{metric:15} base p50 {base['p50']:5} p95 {base['p95']:5} | adapter p50 "
            f"{lora['p50']:5} p95 {lora['p95']:5} | ratio {ratio}"
        )


if __name__ == "__main__":
    main()
