"""Workers behind Kamailio, and a front for several boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    config_of,
)
from ceoline.errors import CeolineError

cluster_app = typer.Typer(
    help="Workers behind Kamailio ([cluster] workers > 1).", no_args_is_help=True
)


@cluster_app.command("config")
def cluster_config(config: ConfigOption = None) -> None:
    """Print the kamailio.cfg and dispatcher list `ceoline serve` writes from this config
    (under [store] data_dir/cluster/)."""
    from ceoline.cluster.kamailio import cluster_dir, dispatcher_list, kamailio_cfg

    cfg = config_of(config)
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
    path = write_front(config_of(config), list(boxes), out)
    typer.echo(f"wrote {path}; check it with: kamailio -c -f {path}")


@cluster_app.command("status")
def cluster_status(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Each worker's state as Kamailio sees it (up, down, disabled) and its live calls."""
    from ceoline.cluster.kamailio import dispatcher_entries
    from ceoline.cluster.workers import workers
    from ceoline.store import Store

    cfg = config_of(config)
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
    if cfg.inference.mode == "shared":
        rows.append(_inference_row(cfg))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        if row["worker"] == "inference":
            typer.echo(
                f"{'inference':<10} {row['uri']:<22} {row['state']:<9} "
                f"{row['busy_slots']}/{row['slots']} slots writing"
            )
            continue
        typer.echo(
            f"{row['worker']:<10} {row['uri']:<22} {row['state']:<9} "
            f"{row['live_calls']}/{row['max_calls']} calls"
        )


def _inference_row(cfg) -> dict:
    """The shared inference service as the workers reach it: up or down, its busy slots."""
    import urllib.request

    from ceoline.inference.service import base_url, health

    url = base_url(cfg)
    busy = None
    if health(cfg, timeout=0.5):
        try:
            with urllib.request.urlopen(f"{url}/slots", timeout=1) as response:
                busy = sum(1 for s in json.loads(response.read()) if s.get("is_processing"))
        except (OSError, ValueError):
            busy = None
    return {
        "worker": "inference",
        "uri": url.removeprefix("http://"),
        "state": "up" if busy is not None else "down",
        "busy_slots": busy if busy is not None else 0,
        "slots": cfg.inference.parallel,
    }
