"""Generate the labelled pause set in tests/data/turns/: caller turns with pauses inside them.

Each turn is one sentence spoken whole, by Piper (the bot's voice) and by espeak-ng (a voice
the bot never uses), with commas where a caller would stop to think: spoken whole, the words
before a pause keep the rising, unfinished sound a person gives them, which a fragment
synthesized on its own would lose. The short gap each voice leaves at a comma is then
stretched to the hold's length, and the turn ends in silence longer than any fallback.

Every pause is labelled: ``hold`` (the caller goes on) or ``end``. The labels are the sample
positions where the silence was written, so they are exact by construction.

    .venv/bin/python scripts/make_turn_set.py          # writes turns.jsonl and audio/*.flac

The 8 kHz µ-law condition and a faint line-noise floor are added at evaluation time
(``admin/turn_eval.py``, through ``voice.audio.through_phone_line``, the same line a SIP call
goes through), which keeps the stored files small.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import soundfile

from ceoline.config import load_config
from ceoline.locator import locate
from ceoline.voice import espeak
from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.tts import Synthesizer

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "turns"
END_SILENCE_MS = 2500
FRAME = SAMPLE_RATE // 50  # 20 ms
SEED = 13

# (kind, text with "|" where the caller holds). Kinds follow what callers do mid-turn.
OPENERS = [
    "I think that,|",
    "What I'd really like is,|",
    "The thing is,|",
    "Honestly,|",
    "So, um,|",
    "My question is,|",
    "What I wanted to say is,|",
    "Well, you see,|",
]
CONTINUATIONS = [
    "the invoice screen should show the due date.",
    "the app logs me out far too often.",
    "when did you start the company?",
    "your support team took a week to answer me.",
    "I would love a dark mode in the app.",
    "who started the company with you?",
    "the export button is really hard to find.",
    "where is your head office?",
    "the reminders come at the wrong time of day.",
    "why did you build Quillfern in the first place?",
]
LISTS = [
    "I'd like three things: faster exports,| a dark mode,| and better search.",
    "The problems are the login,| the reminders,| and the slow invoice page.",
    "You could add receipts,| bank links,| and a proper calendar view.",
    "I use it for invoices,| for expenses,| and for my tax return.",
    "My team wants shared folders,| comments,| and an audit log.",
    "It crashed on Monday,| on Wednesday,| and again this morning.",
]
NUMBERS = [
    "My invoice number is four seven,| two nine,| one one.",
    "The amount was one hundred,| and twenty,| three pounds.",
    "My account starts with eight,| eight,| five.",
    "It happened on the fourteenth,| of March,| at about nine.",
    "The reference is Q,| F,| two thousand and one.",
    "I have been a customer for three,| maybe four years.",
]
FILLERS = [
    "My question is,| um,| when was the company founded?",
    "So,| uh,| I wanted to complain about the app.",
    "I was wondering,| um,| who your first investor was.",
    "Right,| so,| the reminders are too loud.",
    "Okay,| um,| what is the mission of your company?",
    "Well,| uh,| the new update broke my invoices.",
]
FINISHED = [
    "What is the mission of your company?",
    "When did you start Quillfern?",
    "The invoice screen is too slow.",
    "Can you add a dark mode please?",
    "Who was your first investor?",
    "I love the new receipts feature.",
    "Why do the reminders come so late?",
    "Where is your head office?",
    "Your support team was very helpful.",
    "How many people work at the company?",
    "The app keeps logging me out.",
    "Thank you for building this.",
]
# A thanks that closes a turn, and one that only opens or joins its parts. Added after the
# others were drawn, so the turns above keep their order and numbers.
CLOSINGS = [
    "The new receipts screen is lovely, thank you.",
    "The export works much better now, thanks.",
    "That's all I wanted to say, thank you.",
    "Please fix the reminders, thanks.",
    "Keep up the good work, thank you so much.",
    "My accountant likes the reports, thanks a lot.",
    "Hi, thanks,| I wanted to talk about the app.",
    "Okay, thank you,| so my second point is the login.",
    "Great, thank you,| and could you add a dark mode?",
    "The app is really good, thank you,| and the new reports are great too.",
    "Your team fixed my invoice, thanks,| but the reminders still come late.",
    "It works now, thank you,| though the search is still slow.",
]


def turn_texts(rng: random.Random) -> list[tuple[str, str]]:
    turns = []
    for i, opener in enumerate(OPENERS):
        for j in range(8):
            cont = CONTINUATIONS[(i * 8 + j) % len(CONTINUATIONS)]
            turns.append(("clause", opener + " " + cont))
    turns += [("list", t) for t in LISTS]
    turns += [("number", t) for t in NUMBERS]
    turns += [("filler", t) for t in FILLERS]
    turns += [("finished", t) for t in FINISHED]
    rng.shuffle(turns)
    return turns + [("closing", t) for t in CLOSINGS]


def _silent_runs(pcm: np.ndarray, floor_dbfs: float = -45.0) -> list[tuple[int, int]]:
    """(start, end) sample ranges of 20 ms frames quieter than the floor."""
    frames = len(pcm) // FRAME
    level = np.array(
        [
            20
            * np.log10(np.sqrt(np.mean((pcm[k * FRAME : (k + 1) * FRAME] / 32768.0) ** 2)) + 1e-9)
            for k in range(frames)
        ]
    )
    runs, start = [], None
    for k, quiet in enumerate(level < floor_dbfs):
        if quiet and start is None:
            start = k
        elif not quiet and start is not None:
            runs.append((start * FRAME, k * FRAME))
            start = None
    if start is not None:
        runs.append((start * FRAME, frames * FRAME))
    return runs


def _trim(pcm: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm


def _gaps(pcm: np.ndarray, text: str) -> list[tuple[int, int]] | None:
    """The comma gaps where the holds go, one per "|", nearest to where the text puts them."""
    holds = text.count("|")
    if not holds:
        return []
    interior = [(a, b) for a, b in _silent_runs(pcm) if a > 0 and b < len(pcm)]
    if len(interior) < holds:
        return None
    plain = text.replace("|", "")
    expected, seen = [], 0
    for part in text.split("|")[:-1]:
        seen += len(part)
        expected.append(seen / len(plain) * len(pcm))
    chosen = []
    for want in expected:
        candidates = [g for g in interior if g not in chosen]
        best = min(candidates, key=lambda g: abs((g[0] + g[1]) / 2 - want) - (g[1] - g[0]))
        chosen.append(best)
    chosen.sort()
    return chosen


def build(pcm: np.ndarray, text: str, rng: random.Random) -> tuple[np.ndarray, list[dict]] | None:
    pcm = _trim(pcm)
    gaps = _gaps(pcm, text)
    if gaps is None:
        return None
    pieces, pauses, cursor, length = [], [], 0, 0
    for start, end in gaps:
        pieces.append(pcm[cursor:start])
        length += start - cursor
        hold = rng.randrange(400, 1001, 20) * SAMPLE_RATE // 1000
        pauses.append({"label": "hold", "start": length, "end": length + hold})
        pieces.append(np.zeros(hold, np.int16))
        length += hold
        cursor = end
    pieces.append(pcm[cursor:])
    length += len(pcm) - cursor
    tail = END_SILENCE_MS * SAMPLE_RATE // 1000
    pauses.append({"label": "end", "start": length, "end": length + tail})
    pieces.append(np.zeros(tail, np.int16))
    return np.concatenate(pieces), pauses


def split_of(text: str) -> str:
    """Held out by the sentence a turn ends with (its last four words), so a held-out turn's
    ending was never seen in tuning, whatever opener or voice it comes with."""
    ending = " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split()[-4:])
    return "heldout" if hashlib.sha256(ending.encode()).digest()[0] % 4 == 0 else "tune"


def main() -> int:
    if not espeak.available():
        print("espeak-ng is not installed: apt-get install espeak-ng", file=sys.stderr)
        return 1
    config = load_config(None)
    piper = Synthesizer(locate("tts", "embedded", config.models_dir), config.tts, config.runtime)
    rng = random.Random(SEED)
    (OUT / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (kind, text) in enumerate(turn_texts(rng)):
        spoken = text.replace("|", "")
        for voice in ("piper", "espeak"):
            pcm = piper.synthesize(spoken).pcm if voice == "piper" else espeak.speak(spoken)
            built = build(np.asarray(pcm, np.int16), text, rng)
            if built is None:
                print(f"skipped ({voice}, no gap at each comma): {spoken}", file=sys.stderr)
                continue
            audio, pauses = built
            name = f"{n:03d}-{voice}.flac"
            soundfile.write(OUT / "audio" / name, audio, SAMPLE_RATE, format="FLAC")
            rows.append(
                {
                    "file": f"audio/{name}",
                    "voice": voice,
                    "kind": kind,
                    "text": spoken,
                    "pauses": pauses,
                    "split": split_of(spoken),
                }
            )
    with (OUT / "turns.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    holds = sum(p["label"] == "hold" for r in rows for p in r["pauses"])
    print(f"{len(rows)} turns, {holds} holds, {len(rows)} ends -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
