"""`ceoline webhooks …`: a few lines each over the outbox and the deliverer."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

import typer

from ceoline.cli.common import ConfigOption, JsonOption, config_of
from ceoline.errors import CeolineError
from ceoline.store import Store
from ceoline.webhooks import events
from ceoline.webhooks.deliverer import Deliverer

app = typer.Typer(help="Webhook destinations and their deliveries.", no_args_is_help=True)


@app.command("list")
def list_deliveries(
    status: Annotated[str, typer.Option(help="Only pending, delivered or dead deliveries.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Most recent N.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """The destinations, then the most recent deliveries: status, attempts, last error."""
    if status not in ("", "pending", "delivered", "dead"):
        raise CeolineError(f"--status {status}: choose pending, delivered or dead")
    cfg = config_of(config)
    store = Store.open(cfg.data_dir)
    try:
        rows = store.deliveries(limit, status)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for hook in cfg.webhooks:
        typer.echo(f"{hook.name}: {hook.format} -> {hook.url} ({', '.join(hook.events)})")
    if not cfg.webhooks:
        typer.echo("no destinations: add [[webhooks]] to the config")
    for row in rows:
        error = f"  last: {row['last_error']}" if row["last_error"] else ""
        typer.echo(
            f"{row['id']:>6}  {row['webhook']:<12} {row['event_type']:<16} {row['status']:<9} "
            f"attempts {row['attempts']}  next {row['next_attempt_at'][:19]}{error}"
        )


@app.command("deliver")
def deliver(
    everything: Annotated[
        bool, typer.Option("--all", help="Send every pending delivery now, backoff or not.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Send the deliveries that are due (`ceoline serve` does this in the background)."""
    cfg = config_of(config)
    store = Store.open(cfg.data_dir)
    try:
        done, failed = Deliverer(cfg, store).deliver_due(ignore_clock=everything, limit=10_000)
    finally:
        store.close()
    typer.echo(f"{done} delivered, {failed} failed (retried with backoff)")
    if failed:
        raise typer.Exit(1)


@app.command("retry")
def retry(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (webhooks list).")],
    config: ConfigOption = None,
) -> None:
    """Queue a dead or waiting delivery to go now, with the same message id."""
    cfg = config_of(config)
    store = Store.open(cfg.data_dir)
    try:
        if not store.retry_delivery(delivery_id):
            raise CeolineError(f"no pending or dead delivery {delivery_id}; see webhooks list")
        done, _ = Deliverer(cfg, store).deliver_due()
    finally:
        store.close()
    typer.echo(f"delivery {delivery_id}: {'delivered' if done else 'failed, queued again'}")


@app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="The destination's name in the config.")],
    config: ConfigOption = None,
) -> None:
    """Send a test event to one destination now, signed as real ones are."""
    cfg = config_of(config)
    hook = next((h for h in cfg.webhooks if h.name == name), None)
    if hook is None:
        known = ", ".join(h.name for h in cfg.webhooks) or "none configured"
        raise CeolineError(f"no webhook named {name!r} ({known})")
    store = Store.open(cfg.data_dir)
    try:
        body = events.body("ceoline.test", {"message": "a test event from ceoline"})
        msg_id = events.message_id("ceoline.test", secrets.token_hex(8))  # each test is new
        store.add_deliveries(
            [{"webhook": name, "event_type": "ceoline.test", "msg_id": msg_id, "body": body}]
        )
        row = next(
            r for r in store.due_deliveries("", 10_000, ignore_clock=True) if r["msg_id"] == msg_id
        )
        delivered = Deliverer(cfg, store).send(row)
        outcome = store.deliveries(1000)
    finally:
        store.close()
    sent = next(r for r in outcome if r["msg_id"] == msg_id)
    if not delivered:
        raise CeolineError(
            f"{name}: test event not accepted ({sent['last_error'] or sent['last_status']}); "
            "it stays queued for retries"
        )
    typer.echo(f"{name}: test event accepted (HTTP {sent['last_status']})")
