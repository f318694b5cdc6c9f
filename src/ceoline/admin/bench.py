"""Benchmark: the streaming loop against a naive baseline, measured in the same run.

The baseline is the pipeline most first prototypes build: wait for the whole transcript,
generate the whole reply, synthesize it whole, then play it. Both modes take the same
caller prompts (spoken by the embedded voice) in alternation, so machine load affects both.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ceoline.engines import Engines
from ceoline.store import Store
from ceoline.voice.audio import SAMPLE_RATE, read_wav, write_wav
from ceoline.voice.simulate import ScriptedCaller, run_call
from ceoline.voice.timings import STAGES, percentile

# Every kind of turn callers bring, as the hotline serves them (persona adapter on). Calls
# take two turns each, in this order, so the hand-off request always ends its call.
PROMPTS: tuple[tuple[str, str], ...] = (
    ("company", "What is the mission of your company?"),
    ("feedback", "Could you add a dark mode to the app?"),
    ("company", "Who started the company with you?"),
    ("complaint", "The invoice screen is confusing, I could not find the send button."),
    ("company", "When did you open the Lisbon office?"),
    ("off_limits", "Can you refund my last card payment?"),
    ("feedback", "I love the new bookkeeping reports, thank you."),
    ("complaint", "Why did my card payment take three days to arrive?"),
    ("company", "How many customers do you have?"),
    ("handoff", "Can I talk to a real person, please?"),
)
KINDS = tuple(dict.fromkeys(kind for kind, _ in PROMPTS))

MODES = ("streaming", "baseline")


@dataclass
class BenchResult:
    calls: int
    turns: dict[str, list[dict]] = field(default_factory=lambda: {m: [] for m in MODES})

    def by_kind(self, mode: str = "streaming") -> dict:
        """p50/p95 of every stage for each kind of turn, and over all of them."""
        out = {}
        for kind in (*KINDS, "all"):
            picked = [t for t in self.turns[mode] if kind == "all" or t.get("kind") == kind]
            out[kind] = {}
            for stage in STAGES:
                values = [t[stage] for t in picked if t.get(stage) is not None]
                out[kind][stage] = {
                    "p50": percentile(values, 50),
                    "p95": percentile(values, 95),
                    "n": len(values),
                }
        return out

    def summary(self) -> dict:
        out: dict = {"calls_per_mode": self.calls, "stages": {}, "kinds": self.by_kind()}
        for stage in STAGES:
            row = {}
            for mode in MODES:
                values = [t[stage] for t in self.turns[mode] if t.get(stage) is not None]
                row[mode] = {
                    "p50": percentile(values, 50),
                    "p95": percentile(values, 95),
                    "n": len(values),
                }
            base, fast = row["baseline"]["p50"], row["streaming"]["p50"]
            row["baseline_over_streaming_p50"] = (
                round(base / fast, 2) if base is not None and fast else None
            )
            out["stages"][stage] = row
        out["speculation"] = self.speculation()
        return out

    def speculation(self, mode: str = "streaming") -> dict:
        """How often the reply was prepared during the pause, and what was thrown away."""
        turns = self.turns[mode]
        model_ms = [t["turn_model"] for t in turns if t.get("turn_model") is not None]
        return {
            "turns": len(turns),
            "prepared": sum(bool(t.get("speculative")) for t in turns),
            "discarded_replies": sum(t.get("discarded_replies", 0) for t in turns),
            "discarded_tokens": sum(t.get("discarded_tokens", 0) for t in turns),
            "turn_model_ms_p50": percentile(model_ms, 50),
        }


def prompt_audio(engines: Engines, cache_dir: Path) -> list[np.ndarray]:
    """The bundled prompts as caller audio, synthesized once and cached as WAVs."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    audio = []
    for index, (_, text) in enumerate(PROMPTS):
        path = cache_dir / f"prompt-{index:02d}.wav"
        if not path.is_file():
            pcm = engines.synthesizer.synthesize(text).pcm
            write_wav(path, np.concatenate([pcm, np.zeros(SAMPLE_RATE // 5, np.int16)]))
        audio.append(read_wav(path))
    return audio


async def run_bench(
    engines: Engines, calls: int, turns_per_call: int = 2, progress=lambda message: None
) -> BenchResult:
    data_dir = engines.config.data_dir
    prompts = await asyncio.to_thread(prompt_audio, engines, data_dir / "bench-prompts")
    result = BenchResult(calls=calls)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix="bench-") as tmp:
        store = Store.open(Path(tmp))
        try:
            for call_index in range(calls):
                for mode in MODES:
                    picks = [
                        (call_index * turns_per_call + k) % len(prompts)
                        for k in range(turns_per_call)
                    ]
                    chosen = [prompts[i] for i in picks]
                    caller = ScriptedCaller(chosen, reply_wait_s=engines.config.call.reply_wait_s)
                    call = await run_call(
                        engines,
                        caller,
                        store,
                        source="bench",
                        caller_label=f"bench-{mode}",
                        streaming=(mode == "streaming"),
                        greet=False,
                    )
                    heard = [t.timings_ms for t in call.turns if t.role == "caller"]
                    # Turns pair with the prompts in order; a merged or lost turn shows up
                    # as "unmatched" rather than under the wrong kind.
                    kinds = [PROMPTS[i][0] for i in picks]
                    if len(heard) != len(kinds):
                        kinds = ["unmatched"] * len(heard)
                    heard = [{**t, "kind": k} for t, k in zip(heard, kinds, strict=True)]
                    result.turns[mode].extend(heard)
                    progress(
                        f"call {call_index + 1}/{calls} {mode}: "
                        + ", ".join(f"{t.get('response', float('nan')):.0f} ms" for t in heard)
                    )
        finally:
            store.close()
    return result


def format_table(summary: dict) -> str:
    lines = [
        f"{'stage (ms)':<17}{'stream p50':>11}{'p95':>8}{'baseline p50':>14}{'p95':>8}"
        f"{'base/stream':>13}",
    ]

    def fmt(value) -> str:
        return "-" if value is None else f"{value:.0f}"

    for stage, row in summary["stages"].items():
        ratio = row["baseline_over_streaming_p50"]
        lines.append(
            f"{stage:<17}{fmt(row['streaming']['p50']):>11}{fmt(row['streaming']['p95']):>8}"
            f"{fmt(row['baseline']['p50']):>14}{fmt(row['baseline']['p95']):>8}"
            f"{'-' if ratio is None else f'{ratio:.2f}x':>13}"
        )
    n = summary["stages"]["response"]["streaming"]["n"]
    lines.append(f"({summary['calls_per_mode']} calls per mode, {n} caller turns per mode)")
    lines.append("")
    shown = ("endpoint", "stt", "llm_first_token", "tts_first_audio", "response")
    lines.append(f"{'streaming, by kind':<19}" + "".join(f"{s[:15]:>16}" for s in shown) + "    n")
    for kind, stages in summary["kinds"].items():
        if not stages["response"]["n"]:
            continue
        cells = "".join(
            f"{fmt(stages[s]['p50']) + ' / ' + fmt(stages[s]['p95']):>16}" for s in shown
        )
        lines.append(f"{kind:<19}{cells}{stages['response']['n']:>5}")
    lines.append("(p50 / p95 ms)")
    spec = summary["speculation"]
    lines.append(
        f"replies prepared during the pause: {spec['prepared']} of {spec['turns']} turns; "
        f"thrown away unheard: {spec['discarded_replies']} ({spec['discarded_tokens']} model "
        f"tokens); turn model p50 {fmt(spec['turn_model_ms_p50'])} ms"
    )
    return "\n".join(lines)
