"""Call summaries, feedback items and the themes across calls."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    checked_line,
    config_of,
    safe,
)

insights_app = typer.Typer(help="Call summaries and feedback items.", no_args_is_help=True)
top = typer.Typer()


@top.command("themes")
def themes(
    days: Annotated[int, typer.Option(min=1, max=3650, help="The period: the last N days.")] = 7,
    per_area: Annotated[int, typer.Option(min=1, help="At most N themes per product area.")] = 5,
    line: Annotated[
        str | None,
        typer.Option(help="Count only calls on this line (a name from the config's lines)."),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The top themes of the last N days: items, trend, first and last seen, quotes."""
    from ceoline.store import Store
    from ceoline.web.queries import theme_list

    cfg = config_of(config)
    line = checked_line(cfg, line)
    store = Store.open(cfg.data_dir)
    try:
        rows = theme_list(store, days, per_area=per_area, line=line)
    finally:
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
            f"[{row['id']}] {safe(row['name'])} ({row['product_area']}, {row['type']}): "
            f"{row['count']} items, {row['trend']} (before: {row['previous'] or 0}){urgent}; "
            f"first {row['first_seen'][:10]}, last {row['last_seen'][:10]}"
        )
        for quote in row["quotes"]:
            typer.echo(f'    "{safe(quote)}"')


@insights_app.command("run")
def insights_run(config: ConfigOption = None) -> None:
    """Process every queued insights job now (`ceoline serve` does this in the background)."""
    from ceoline.insights.worker import InsightsWorker
    from ceoline.store import Store

    cfg = config_of(config)
    store = Store.open(cfg.data_dir)
    try:
        from ceoline.webhooks import events as webhook_events

        store.requeue_running_jobs()
        done = InsightsWorker(cfg, store, outbox=webhook_events.for_insights(cfg)).run_pending()
        counts = store.insight_job_counts()
    finally:
        store.close()
    typer.echo(f"{done} calls analysed; queue: {counts or 'empty'}")
