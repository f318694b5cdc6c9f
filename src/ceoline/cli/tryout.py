"""Trying the hotline without a phone: a simulated call, a SIP dial, one line spoken or
heard, the bench."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    config_of,
    line_stages,
    safe,
)
from ceoline.errors import CeolineError

top = typer.Typer()


@top.command()
def call(
    wav: Annotated[
        Path,
        typer.Argument(
            help="The caller's side: a WAV file (any rate, mono or stereo).", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the bot's side here as a 16 kHz WAV on the caller's timeline.",
        ),
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(help="The line called (a name from the config's lines; default: the first)."),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run one simulated call whose caller side is WAV, print the dialogue and store the call."""
    from ceoline.store import Store
    from ceoline.voice.audio import read_wav, write_wav
    from ceoline.voice.simulate import WavCaller, run_call

    cfg = config_of(config)
    pcm = read_wav(wav, max_seconds=cfg.call.max_input_s)
    if out is not None and out.is_dir():
        raise CeolineError(f"--out {out} is a directory; give a file path such as reply.wav")
    engines = line_stages(cfg, line)
    store = Store.open(cfg.data_dir)
    try:
        result = asyncio.run(
            run_call(engines, WavCaller(pcm, cfg.call.reply_wait_s), store, caller_label=str(wav))
        )
    finally:
        store.close()
    if out is not None:
        write_wav(out, result.bot_pcm)
    data = result.as_json()
    if cfg.insights.enabled and result.call_id:
        from ceoline.insights.worker import InsightsWorker
        from ceoline.webhooks import events as webhook_events
        from ceoline.webhooks.deliverer import Deliverer

        store = Store.open(cfg.data_dir)
        try:
            InsightsWorker(cfg, store, outbox=webhook_events.for_insights(cfg)).run_pending()
            stored = store.get_call(result.call_id) or {}
            if cfg.webhooks:
                Deliverer(cfg, store).deliver_due()
        finally:
            store.close()
        data["summary"] = stored.get("summary")
        data["items"] = stored.get("items", [])
    data["turns"].sort(key=lambda t: (t["start_ms"], t["role"] != "caller"))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"call {data['call_id']} ({data['duration_s']:.1f} s, {data['end_reason']})")
    heard = [t for t in data["turns"] if t["role"] == "caller"]
    for turn in data["turns"]:
        who = "caller" if turn["role"] == "caller" else "bot   "
        typer.echo(f"[{turn['start_ms'] / 1000:6.1f}s] {who}: {turn['text']}")
        if turn.get("understood"):
            typer.echo(f"{'':9} understood as: {turn['understood']}")
        if turn["role"] == "caller" and "response" in turn["timings_ms"]:
            t = turn["timings_ms"]
            typer.echo(
                "          "
                + "  ".join(
                    f"{k}={t[k]:.0f}ms"
                    for k in ("endpoint", "stt", "llm_first_token", "tts_first_audio", "response")
                    if k in t
                )
            )
    if not heard:
        typer.echo("(no caller speech was heard)")
    if data.get("summary"):
        typer.echo(f"summary: {safe(data['summary'])}")
        for item in data["items"]:
            typer.echo(
                f"  - {item['type']}/{item['product_area']} ({item['sentiment']}, "
                f"{item['urgency']}, {item['method']}): {safe(item['quote'])}"
            )


@top.command()
def dial(
    uri: Annotated[
        str,
        typer.Argument(help="Whom to call, e.g. sip:hotline@127.0.0.1:5060.", show_default=False),
    ],
    play: Annotated[
        list[Path] | None,
        typer.Option(
            "--play", "-p", help="Say this WAV after the greeting (repeat for more turns)."
        ),
    ] = None,
    record: Annotated[
        Path | None, typer.Option("--record", "-r", help="Write what was heard (16 kHz WAV).")
    ] = None,
    dtmf: Annotated[str, typer.Option(help="Keypad digits to send after the prompts.")] = "",
    transport: Annotated[str, typer.Option(help="udp or tcp.")] = "udp",
    codec: Annotated[
        str, typer.Option(help="Offer only this codec, e.g. PCMU/8000 (default: all).")
    ] = "",
    hold: Annotated[
        float, typer.Option(min=0, help="Stay on the line this many seconds after the script.")
    ] = 0,
    barge_in: Annotated[
        int | None,
        typer.Option(
            "--barge-in-ms",
            min=0,
            help="Say each prompt after the first this many ms into the bot's answer, over it.",
        ),
    ] = None,
    speak_at: Annotated[
        int | None,
        typer.Option(
            "--speak-at-ms",
            min=0,
            help="Say the first prompt this many ms after the answer, over the greeting.",
        ),
    ] = None,
    echo_db: Annotated[
        float | None,
        typer.Option(
            "--echo-db",
            max=0,
            help="Return what is heard to the line at this level (dB), like a phone's echo.",
        ),
    ] = None,
    echo_delay: Annotated[
        int, typer.Option("--echo-delay-ms", min=20, max=1000, help="The echo's delay (ms).")
    ] = 120,
    bind: Annotated[str, typer.Option(help="Local address to call from.")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option(min=1, help="Give up after this many seconds.")] = 180,
    as_json: JsonOption = False,
) -> None:
    """Place a test call: wait for the greeting (or talk over it), say each --play WAV, listen,
    hang up.

    Prints the SIP status and, per prompt, the response time heard on the line.
    """
    from ceoline.sip.dialer import Dialer, DialScript
    from ceoline.voice.audio import read_wav, write_wav

    if transport not in ("udp", "tcp"):
        raise CeolineError(f"--transport {transport!r} is not valid; use udp or tcp")
    if not uri.startswith(("sip:", "sips:")):
        raise CeolineError(f"{uri!r} is not a SIP URI; write it like sip:hotline@127.0.0.1:5060")
    prompts = [read_wav(p, max_seconds=120) for p in play or []]
    dialer = Dialer(bind=bind, transport=transport, codec=codec)
    try:
        script = DialScript(
            prompts=prompts,
            dtmf=dtmf,
            hold_ms=int(hold * 1000),
            barge_in_ms=barge_in,
            speak_at_ms=speak_at,
            echo_db=echo_db,
            echo_delay_ms=echo_delay,
        )
        result = dialer.dial(uri, script, timeout_s=timeout)
    finally:
        dialer.close()
    if record is not None:
        write_wav(record, result.recording)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        typer.echo(
            f"{result.status} {result.reason}  codec={result.codec or '-'}  "
            f"heard {len(result.recording) / 16000:.1f} s"
            + ("  (they hung up)" if result.remote_hangup else "")
        )
        for i, turn in enumerate(result.turns, 1):
            shown = "no reply" if turn.response_ms is None else f"{turn.response_ms} ms"
            typer.echo(f"  prompt {i}: response {shown}")
    if not result.connected:
        raise typer.Exit(1)


@top.command()
def say(
    text: Annotated[str, typer.Argument(help="What to say.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="WAV file to write (16 kHz mono).", show_default=False),
    ],
    config: ConfigOption = None,
) -> None:
    """Speak TEXT with the configured Piper voice into a WAV file."""
    from ceoline.engines import locate_all
    from ceoline.voice.audio import write_wav
    from ceoline.voice.chunker import clean_for_speech
    from ceoline.voice.tts import Synthesizer

    cfg = config_of(config)
    spoken = clean_for_speech(text)
    if not spoken:
        raise CeolineError("TEXT has nothing speakable; give some words")
    synthesizer = Synthesizer(locate_all(cfg)["tts"], cfg.tts, cfg.runtime)
    speech = synthesizer.synthesize(spoken)
    write_wav(out, speech.pcm)
    typer.echo(f"{out}: {len(speech.pcm) / 16000:.2f} s in {speech.elapsed_ms:.0f} ms")


@top.command()
def transcribe(
    wav: Annotated[
        Path, typer.Argument(help="A WAV file (any rate, mono or stereo).", show_default=False)
    ],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Transcribe a WAV file with the configured Whisper model."""
    from ceoline.engines import locate_all
    from ceoline.voice.audio import read_wav
    from ceoline.voice.stt import Transcriber

    cfg = config_of(config)
    pcm = read_wav(wav, max_seconds=cfg.call.max_input_s)
    transcript = Transcriber(locate_all(cfg)["stt"], cfg.stt, cfg.runtime).transcribe(pcm)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "text": transcript.text,
                    "duration_s": transcript.duration_s,
                    "elapsed_ms": round(transcript.elapsed_ms, 1),
                }
            )
        )
    else:
        typer.echo(transcript.text)


@top.command()
def bench(
    calls: Annotated[int, typer.Option(min=1, max=1000, help="Simulated calls per mode.")] = 5,
    turns: Annotated[int, typer.Option(min=1, max=20, help="Caller turns per call.")] = 2,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Measure p50/p95 of every stage: streaming loop vs a naive whole-reply baseline."""
    from ceoline.admin.bench import format_table, run_bench

    cfg = config_of(config)
    engines = line_stages(cfg)
    result = asyncio.run(
        run_bench(engines, calls, turns, progress=lambda m: typer.echo(m, err=True))
    )
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps({**summary, "turns": result.turns}, indent=2))
    else:
        typer.echo(format_table(summary))
