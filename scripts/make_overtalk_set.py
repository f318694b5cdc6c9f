"""Generate the over-talk set in tests/data/overtalk/: callers who talk over the bot.

Callers start talking as soon as they hear a voice, and go on over a reply they have stopped
listening to. Each line here (a question, a request for a person, a piece of feedback) is
spoken by Piper (the bot's own voice) and by espeak-ng (a voice the bot never uses), and each
*case* lays one line over the bot's greeting or over one of its replies: at an offset, at a
caller level from -30 to -10 dBFS, with the bot's own echo returned down the line at -6, -12
or -20 dB and 60–250 ms of delay (or no echo, as on most digital lines), through 16 kHz or
8 kHz µ-law. Echo-only cases have no caller at all: nothing there may be heard.

    .venv/bin/python scripts/make_overtalk_set.py   # writes lines.jsonl, cases.jsonl, audio/

Only the lines and the bot's two utterances are stored; the mixing is done at evaluation time
(``admin/overtalk_eval.py``) from the case's parameters, which keeps the set small and makes
every case reproducible from its row.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import soundfile

from ceoline.config import load_config
from ceoline.locator import locate
from ceoline.persona.profile import load_persona
from ceoline.voice import espeak
from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.tts import Synthesizer

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "overtalk"
SEED = 14

LINES = {
    "question": [
        "Which city is your head office in?",
        "In what year was your company founded?",
        "Who started the company with you?",
        "What is your company's mission?",
        "Do you have a mobile app for invoices?",
        "How many people work at your company?",
    ],
    "person": [
        "Can I please talk to a real person? I need help from a human.",
        "I want to speak to a human being, please.",
        "Put me through to a real person.",
        "Can I talk to someone from your support team?",
        "Let me speak with a human agent.",
        "Is there a real person I could talk to?",
    ],
    "feedback": [
        "Hello. I want to suggest that your app shows the due date of my next payment on the "
        "home screen.",
        "The export button is really hard to find.",
        "Your support team took a week to answer my email.",
        "I would love a dark mode in the mobile app.",
        "The app logs me out far too often.",
        "The invoice reminders come at the wrong time of day.",
    ],
}
# What the bot says over the caller: the greeting (which cannot be cut) and a long reply.
REPLY = (
    "Our mission is to give every small business the money tools big companies have, "
    "without the jargon. We started with invoices, because late payments hurt small firms "
    "the most, and we keep adding what our customers ask us for."
)
LEVELS_DBFS = (-30, -20, -10)
ECHOES_DB = (None, -6, -12, -20)
CASES_PER_LINE = 3


def over_talk_cases(lines: list[dict], rng: random.Random) -> list[dict]:
    cases = []
    for n, line in enumerate(lines):
        for k in range(CASES_PER_LINE):
            # Every request for a person gets at least one case over the greeting.
            over = "greeting" if k == 0 else rng.choice(("greeting", "reply"))
            cases.append(
                {
                    "line": line["id"],
                    "over": over,
                    "offset_ms": rng.randrange(300, 2500, 20),
                    "caller_dbfs": LEVELS_DBFS[(n + k) % len(LEVELS_DBFS)],
                    "echo_db": ECHOES_DB[(n * CASES_PER_LINE + k) % len(ECHOES_DB)],
                    "echo_delay_ms": rng.randrange(60, 260, 10),
                    "phone": (n + k) % 2 == 1,
                }
            )
    return cases


def echo_only_cases() -> list[dict]:
    return [
        {
            "line": None,
            "over": over,
            "offset_ms": 0,
            "caller_dbfs": None,
            "echo_db": echo,
            "echo_delay_ms": delay,
            "phone": phone,
        }
        for over in ("greeting", "reply")
        for echo in (-6, -12, -20)
        for delay in (60, 120, 250)
        for phone in (False, True)
    ]


def main() -> int:
    if not espeak.available():
        print("espeak-ng is not installed: apt-get install espeak-ng", file=sys.stderr)
        return 1
    config = load_config(None)
    persona = load_persona(config.persona_file)
    piper = Synthesizer(locate("tts", "embedded", config.models_dir), config.tts, config.runtime)
    (OUT / "audio").mkdir(parents=True, exist_ok=True)
    for name, text in (("greeting", persona.greeting), ("reply", REPLY)):
        soundfile.write(
            OUT / "audio" / f"bot-{name}.flac", piper.synthesize(text).pcm, SAMPLE_RATE, "PCM_16"
        )
    lines = []
    for kind, texts in LINES.items():
        for n, text in enumerate(texts):
            for voice in ("piper", "espeak"):
                pcm = piper.synthesize(text).pcm if voice == "piper" else espeak.speak(text)
                line_id = f"{kind}-{n}-{voice}"
                soundfile.write(OUT / "audio" / f"{line_id}.flac", pcm, SAMPLE_RATE, "PCM_16")
                lines.append(
                    {
                        "id": line_id,
                        "kind": kind,
                        "voice": voice,
                        "text": text,
                        "file": f"audio/{line_id}.flac",
                    }
                )
    cases = over_talk_cases(lines, random.Random(SEED)) + echo_only_cases()
    (OUT / "lines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), "utf-8")
    (OUT / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), "utf-8")
    print(f"{len(lines)} lines, {len(cases)} cases -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
