"""Barge-in with the real models: stop latency, and false barge-ins on echo and backchannels.

Simulated calls on the call's own 20 ms clock (what the SIP path feeds the same loop):

* **interruptions**: a caller asks a question, then talks over the answer at several
  offsets with several phrases; the stop latency is speech onset → the bot's last frame.
* **echo**: the bot's own voice returned down the line at several delays and levels.
* **backchannels**: "mm-hm", "yeah", "okay", "right" and a cough over the answer.

A false barge-in is an echo or backchannel trial in which the reply was dropped.

    .venv/bin/python scripts/bargein_eval.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.config import parse_config_file  # noqa: E402
from ceoline.engines import Engines  # noqa: E402
from ceoline.store import Store  # noqa: E402
from ceoline.voice.audio import SAMPLE_RATE  # noqa: E402
from ceoline.voice.simulate import EchoingLine, InterruptingCaller, WavCaller, run_call  # noqa: E402
from ceoline.voice.timings import percentile  # noqa: E402

QUESTION = "Tell me about the Quillfern mobile app and what you are working on next."
INTERRUPTIONS = [
    "Wait, sorry, stop. I have a different question about invoices.",
    "Hold on, can I ask about card fees instead?",
    "Sorry to cut in, but the export is broken for me.",
    "No, no, that is not what I meant at all.",
]
BACKCHANNELS = ["Mm-hmm.", "Yeah.", "Okay.", "Right.", "cough"]
OFFSETS_MS = [400, 900, 1500]
ECHO = [
    (60, -6.0),
    (60, -12.0),
    (120, -15.0),
    (200, -18.0),
    (250, -6.0),
    (250, -12.0),
    (120, -24.0),
]


def pad(pcm: np.ndarray, before: float = 0.3, after: float = 0.3) -> np.ndarray:
    z = lambda s: np.zeros(int(s * SAMPLE_RATE), np.int16)  # noqa: E731
    return np.concatenate([z(before), pcm, z(after)])


async def one_call(engines, caller, data_dir: Path) -> dict:
    store = Store.open(data_dir)
    try:
        result = await run_call(engines, caller, store, greet=False)
        return store.get_call(result.call_id)
    finally:
        store.close()


def barges(call: dict) -> list[dict]:
    return [json.loads(e["detail"]) for e in call["events"] if e["kind"] == "barge_in"]


async def main_async(as_json: bool) -> None:
    config = parse_config_file(ROOT / "configs/ceoline.toml")
    engines = Engines.load(config).on_line()
    say = lambda text: engines.synthesizer.synthesize(text).pcm  # noqa: E731
    question = pad(say(QUESTION))
    rng = np.random.default_rng(5)
    cough = (rng.normal(0, 6000, int(0.2 * SAMPLE_RATE))).astype(np.int16)
    sounds = {b: (cough if b == "cough" else say(b)) for b in BACKCHANNELS}
    latencies, missed = [], 0
    false_echo = false_back = 0
    pauses_back = 0
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        trials = [(p, o) for p in INTERRUPTIONS for o in OFFSETS_MS]
        for phrase, offset in trials:
            caller = InterruptingCaller(question, pad(say(phrase)), offset, linger_ms=1500)
            call = await one_call(engines, caller, data)
            done = [b for b in barges(call) if b["committed"]]
            if done:
                latencies.append(done[0]["latency_ms"])
            else:
                missed += 1
            print(f"interrupt {offset} ms {phrase[:24]!r}: {done}", file=sys.stderr)
        for name, sound in sounds.items():
            for offset in OFFSETS_MS:
                call = await one_call(engines, InterruptingCaller(question, sound, offset), data)
                found = barges(call)
                false_back += any(b["committed"] for b in found)
                pauses_back += bool(found)
                print(f"backchannel {name} {offset} ms: {found}", file=sys.stderr)
        for delay, gain in ECHO:
            line = EchoingLine(WavCaller(question, 30), delay_ms=delay, gain_db=gain)
            call = await one_call(engines, line, data)
            found = barges(call)
            false_echo += bool(found)
            print(f"echo {delay} ms {gain} dB: {found}", file=sys.stderr)
    back_trials = len(sounds) * len(OFFSETS_MS)
    report = {
        "interruptions": len(INTERRUPTIONS) * len(OFFSETS_MS),
        "stopped": len(latencies),
        "missed": missed,
        "stop_latency_p50_ms": percentile(latencies, 50),
        "stop_latency_p95_ms": percentile(latencies, 95),
        "stop_latency_max_ms": max(latencies) if latencies else None,
        "backchannel_trials": back_trials,
        "backchannel_false_barge_ins": false_back,
        "backchannel_pauses_then_resumed": pauses_back - false_back,
        "echo_trials": len(ECHO),
        "echo_false_barge_ins": false_echo,
        "false_barge_in_rate": round((false_back + false_echo) / (back_trials + len(ECHO)), 3),
    }
    print(
        json.dumps(report, indent=2)
        if as_json
        else "\n".join(f"{k}: {v}" for k, v in report.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    asyncio.run(main_async(parser.parse_args().json))


if __name__ == "__main__":
    main()
