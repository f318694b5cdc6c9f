"""What Whisper hears of caller turns, for training the turn reader on the words a call reads.

A call's turn reader never sees a caller's words as written: it reads Whisper's early
transcript, and in a voice unlike the bot's own, through 8 kHz µ-law, that is often garbled
("I would like to show my payment history", "…at the wrong time of May"). The reader trained
on written turns alone gives such finished statements 0.1–0.2. This writes
``configs/turns/heard_turns.jsonl``, two kinds of rows, each keeping its source's split:

- every turn of ``configs/turns/caller_turns.jsonl`` said by Piper and by espeak-ng, wideband
  and through 8 kHz µ-law (with the pause set's line noise), transcribed whole by the call's
  transcriber with its hotwords: a finished turn as heard;
- every pause of the pause set ``tests/data/turns/`` at its first look (``[turn] pause_ms`` of
  silence, the call's own endpointer), the early transcript a call reads there: a hold
  (not finished) or the turn's end (finished).

    .venv/bin/python scripts/make_heard_turns.py [--limit N]

About 6 minutes on 2 cores. The output is text only, and deterministic for given models.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.admin.turn_eval import LINES, line_audio, load_turns, over_line  # noqa: E402
from ceoline.config import load_config  # noqa: E402
from ceoline.engines import Engines  # noqa: E402
from ceoline.voice import espeak  # noqa: E402
from ceoline.voice.audio import FRAME_MS, SAMPLE_RATE  # noqa: E402
from ceoline.voice.endpointing import Endpointer, SpeechPaused  # noqa: E402

OUT = ROOT / "configs/turns/heard_turns.jsonl"
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
# Half a second of line noise around each spoken turn, as a caller's line has.
PADDING = SAMPLE_RATE // 2


def on_line(pcm: np.ndarray, line: str, rng: np.random.Generator) -> np.ndarray:
    padded = np.concatenate([np.zeros(PADDING), pcm.astype(np.float64), np.zeros(PADDING)])
    return over_line(padded, line, rng)


def caller_turn_rows(engines, limit: int):
    """Each written caller turn, said by both voices, heard over both lines."""
    path = ROOT / "configs/turns/caller_turns.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:limit]
    rng = np.random.default_rng(11)
    for row in rows:
        for voice in ("piper", "espeak"):
            if voice == "piper":
                pcm = np.asarray(engines.synthesizer.synthesize(row["text"]).pcm, np.int16)
            else:
                pcm = espeak.speak(row["text"])
            for line in LINES:
                heard = engines.transcriber.transcribe(on_line(pcm, line, rng)).text
                yield {
                    "set": "caller turns",
                    "said": row["text"],
                    "heard": heard,
                    "finished": True,
                    "voice": voice,
                    "line": line,
                    "split": row["split"],
                }


def pause_set_rows(engines, limit: int):
    """The early transcript at the first look of every hold and every end of the pause set."""
    config = engines.config
    seeds = random.Random(7)
    for turn in load_turns(ROOT / "tests/data/turns/turns.jsonl")[:limit]:
        for line in LINES:
            audio = line_audio(turn, line, seeds.randrange(1 << 30))
            endpointer = Endpointer(
                config.vad,
                prefetch_ms=config.turn.pause_ms,
                end_ms=3000,
                check_every_ms=config.turn.recheck_ms,
            )
            for k in range(len(audio) // FRAME_SAMPLES):
                frame = audio[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES].tobytes()
                for event in endpointer.push(frame, k * FRAME_MS):
                    if not isinstance(event, SpeechPaused):
                        continue
                    hold = any(start <= event.t_ms < end for start, end in turn.holds)
                    if not hold and event.t_ms < turn.speech_end_ms:
                        continue  # a pause inside a word, not a labelled one
                    yield {
                        "set": "pause set",
                        "said": turn.text,
                        "heard": engines.transcriber.transcribe(event.audio).text,
                        "finished": not hold,
                        "voice": turn.voice,
                        "line": line,
                        "split": turn.split,
                    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100000, help="only the first N of each set")
    args = parser.parse_args()
    if not espeak.available():
        print("espeak-ng is not installed: apt-get install espeak-ng", file=sys.stderr)
        return 1
    config = load_config()
    engines = Engines.load(config, warm=False).on_line()
    rows = [*caller_turn_rows(engines, args.limit), *pause_set_rows(engines, args.limit)]
    rows = [row for row in rows if row["heard"].strip()]
    temporary = OUT.with_name(OUT.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    temporary.replace(OUT)
    finished = sum(row["finished"] for row in rows)
    print(f"{len(rows)} heard turns ({finished} finished, {len(rows) - finished} holds) -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
