"""How well each signal tells a hold from a finished turn, at the first pause of the pause set.

Every pause of `tests/data/turns/` (both voices, wideband and through 8 kHz µ-law, the same
line noise as `ceoline eval turns`) is cut where the call first looks at it (`[turn] pause_ms`
of silence). Two signals are scored there, each against the set's hold/end labels:

- Smart Turn v3.2's P(finished) on the audio so far, as the call's turn judge asks it;
- the reply model's own P(end of the caller's message) after Whisper's early transcript:
  llama.cpp's probability that the chat template's end-of-turn token comes next (directly or
  after one closing ".", "?" or "!"), the persona system prompt first, adapter on;
- the turn reader's P(finished) over that reading (``ceoline turn train``).

Each is scored on the set's tune and held-out parts, over all pauses and over statements
(pauses whose early words are no question) alone.

It prints each signal's ROC AUC (the chance that a finished turn scores above a hold) and, per
threshold, the share of finished turns and of holds at or above it. This measures candidates;
it changes nothing in how calls decide.

    .venv/bin/python scripts/turn_signals.py [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.admin.turn_eval import LINES, line_audio, load_turns  # noqa: E402
from ceoline.config import load_config  # noqa: E402
from ceoline.engines import Engines  # noqa: E402
from ceoline.trust.dialogue import repair_question  # noqa: E402
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE  # noqa: E402
from ceoline.voice.endpointing import Endpointer, SpeechPaused, TurnCheck  # noqa: E402
from ceoline.voice.llm import Message  # noqa: E402
from ceoline.voice.word_rules import is_question, looks_unfinished  # noqa: E402

FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
THRESHOLDS = {
    "smart_turn": (0.3, 0.5, 0.7, 0.85),
    "text_end": (0.001, 0.003, 0.005, 0.01, 0.03),
    "reader": (0.3, 0.5, 0.7, 0.8, 0.9),
}


def first_looks(engines, turns, pause_ms: int):
    """(label, Smart Turn P, transcript) at the first look of every pause."""
    config = engines.config
    seeds = random.Random(7)
    for turn in turns:
        for line in LINES:
            audio = line_audio(turn, line, seeds.randrange(1 << 30))
            endpointer = Endpointer(
                config.vad, prefetch_ms=pause_ms, end_ms=3000, check_every_ms=config.turn.recheck_ms
            )
            text = None
            for k in range(len(audio) // FRAME_SAMPLES):
                frame = audio[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].tobytes()
                for event in endpointer.push(frame, k * FRAME_MS):
                    if isinstance(event, SpeechPaused):
                        text = engines.transcriber.transcribe(event.audio).text
                        at = event.t_ms
                    elif isinstance(event, TurnCheck) and text is not None:
                        hold = any(start <= at < end for start, end in turn.holds)
                        if hold or at >= turn.speech_end_ms:
                            verdict = engines.turn_model.judge(event.audio).complete
                            yield ("hold" if hold else "end"), verdict, text, turn
                        text = None


def auc(ends: list[float], holds: list[float]) -> float:
    wins = sum((e > h) + 0.5 * (e == h) for e in ends for h in holds)
    return wins / (len(ends) * len(holds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10000, help="use only the first N turns")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--looks", type=Path, help="also write every look's signals here (JSON)")
    args = parser.parse_args()
    config = load_config()
    engines = Engines.load(config, warm=False).on_line()
    turns = load_turns(ROOT / "tests/data/turns/turns.jsonl")[: args.limit]
    looks = list(first_looks(engines, turns, config.turn.pause_ms))
    context = [Message("system", engines.persona.system_prompt())]
    rows = []
    for label, verdict, text, turn in looks:
        reading = engines.llm.read_end(context, text) if text.strip() else None
        reader = engines.turn_reader
        rows.append(
            {
                "label": label,
                "split": turn.split,
                "text": text,
                "statement": not is_question(repair_question(text)),
                "unfinished": looks_unfinished(text),
                "smart_turn": verdict,
                "text_end": reading.p_end if reading else 0.0,
                "reader": reader.p_finished(reading, text) if reading and reader else 0.0,
            }
        )
    if args.looks:
        args.looks.write_text(json.dumps(rows, indent=1))
    report = {}
    for part in ("tune", "heldout"):
        for kind in ("all", "statements"):
            chosen = [r for r in rows if r["split"] == part and (kind == "all" or r["statement"])]
            for signal in THRESHOLDS:
                ends = [r[signal] for r in chosen if r["label"] == "end"]
                holds = [r[signal] for r in chosen if r["label"] == "hold"]
                if not ends or not holds:
                    continue
                report[f"{part}/{kind}/{signal}"] = {
                    "finished": len(ends),
                    "holds": len(holds),
                    "auc": round(auc(ends, holds), 3),
                    "at_or_above": {
                        str(t): {
                            "finished": round(sum(e >= t for e in ends) / len(ends), 3),
                            "holds": round(sum(h >= t for h in holds) / len(holds), 3),
                        }
                        for t in THRESHOLDS[signal]
                    },
                }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, row in report.items():
        print(f"{name}: ROC AUC {row['auc']} ({row['finished']} finished, {row['holds']} holds)")
        for t, share in row["at_or_above"].items():
            print(f"  >= {t:>6}: finished {share['finished']:.1%}, holds {share['holds']:.1%}")


if __name__ == "__main__":
    main()
