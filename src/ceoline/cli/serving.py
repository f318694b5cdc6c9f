"""Serving: SIP calls, the dashboard and the systemd unit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    config_of,
    engines_for,
    state,
)
from ceoline.config import Config
from ceoline.errors import CeolineError

service_app = typer.Typer(help="Run ceoline as a system service.", no_args_is_help=True)
top = typer.Typer()


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

    cfg = config_of(config)
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


@top.command()
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

    if not state.log_level_given:
        logging.getLogger().setLevel(logging.INFO)  # a server logs its call events
    cfg = config_of(config)
    if worker is None and cfg.cluster.workers > 1:
        serve_cluster(cfg)
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
    engines = engines_for(cfg, start_service=worker is None)
    store = Store.open(cfg.data_dir, worker=name, box=cfg.cluster.box)
    server = Server(cfg, engines, store)
    try:
        listening = server.start()
        sip = cfg.sip
        for line in engines.lines:
            numbers = ", ".join(line.numbers) or "any number"
            typer.echo(
                f"ceoline: line {line.name} ({numbers}) answers as {line.persona.name}, "
                f"{line.persona.company}"
            )
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


def serve_cluster(cfg: Config) -> None:
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


@top.command()
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
    cfg = config_of(config)
    typer.echo(f"ceoline dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")
