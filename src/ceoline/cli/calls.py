"""Browse and erase stored calls; purge past retention."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    actor,
    checked_line,
    config_of,
    safe,
)
from ceoline.errors import CeolineError, StoreError

calls_app = typer.Typer(help="Browse stored calls.", no_args_is_help=True)
top = typer.Typer()


@calls_app.command("list")
def calls_list(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Most recent N calls.")] = 20,
    line: Annotated[
        str | None, typer.Option(help="Only calls on this line (a name from the config's lines).")
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the most recent calls, with the line each came in on."""
    from ceoline.store import Store

    cfg = config_of(config)
    line = checked_line(cfg, line)
    store = Store.open(cfg.data_dir)
    try:
        rows = store.list_calls(limit, line=line)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no calls stored yet")
        return
    width = max(6, *(len(row["line"]) for row in rows)) + 2
    typer.echo(
        f"{'call id':<24}{'started (UTC)':<21}{'line':<{width}}{'secs':>7}  {'turns':>5}  "
        "end reason"
    )
    for row in rows:
        secs = "-" if row["duration_s"] is None else f"{row['duration_s']:.1f}"
        typer.echo(
            f"{row['id']:<24}{row['started_at'][:19]:<21}{safe(row['line']):<{width}}{secs:>7}  "
            f"{row['turns']:>5}  {row['end_reason'] or 'in progress'}"
        )


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

    store = Store.open(config_of(config).data_dir)
    call_row = store.get_call(call_id)
    store.close()
    if call_row is None:
        raise StoreError(f"no call with id {call_id!r}; list them with `ceoline calls list`")
    if as_json:
        typer.echo(json.dumps(call_row, indent=2))
        return
    typer.echo(
        f"call {call_row['id']}  {call_row['source']}  line {safe(call_row['line'])} "
        f"({safe(call_row['language'])})  caller={safe(call_row['caller'])}"
    )
    if call_row.get("sip_call_id"):
        typer.echo(
            f"SIP Call-ID {safe(call_row['sip_call_id'])}  from {safe(call_row['caller_uri'])}  "
            f"codec {call_row['codec'] or '-'}  answered {call_row['answered_at'] or 'never'}"
        )
    secs = "-" if call_row["duration_s"] is None else f"{call_row['duration_s']:.1f} s"
    typer.echo(
        f"started {call_row['started_at']}  ended {call_row['ended_at']}  "
        f"({call_row['end_reason'] or 'in progress'}, {secs})"
    )
    if call_row.get("summary"):
        typer.echo(f"summary ({call_row['summary_method']}): {safe(call_row['summary'])}")
    for item in call_row.get("items", []):
        typer.echo(
            f"  item {item['type']}/{item['product_area']} {item['sentiment']} "
            f"{item['urgency']}{' follow-up' if item['needs_followup'] else ''} "
            f"[{item['method']}]: {safe(item['quote'])}"
        )
    for esc in call_row.get("escalations", []):
        typer.echo(f"  escalation {esc['reason']} -> {esc['outcome']} {safe(esc['detail'])}")
    for event in call_row.get("events", []):
        at = "" if event["t_ms"] is None else f" at {event['t_ms'] / 1000:.1f}s"
        typer.echo(f"  {event['kind']} {safe(event['detail'])}{at}")
    for turn in call_row["turns"]:
        mark = " (interrupted)" if turn["interrupted"] else ""
        typer.echo(
            f"[{turn['start_ms'] / 1000:6.1f}s] {turn['role']:<6}: {safe(turn['text'])}{mark}"
        )


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
    store = Store.open(config_of(config).data_dir)
    try:
        if caller:
            done = retention.erase_caller(store, caller, actor(by), dry_run=dry_run)
        else:
            done = retention.erase_calls(store, list(call_ids or []), actor(by), dry_run=dry_run)
    finally:
        store.close()
    report_deletion(done, as_json)


@top.command()
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

    cfg = config_of(config)
    store = Store.open(cfg.data_dir)
    try:
        done = retention.purge(store, days or cfg.retention.days, actor(None), dry_run=dry_run)
    finally:
        store.close()
    report_deletion(done, as_json)


def report_deletion(done, as_json: bool) -> None:
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
