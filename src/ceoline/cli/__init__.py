"""The admin CLI: one module per command group, each command a few lines over the library.

``cli`` may import every package; nothing imports ``cli``.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from ceoline.cli import (
    calls,
    cluster,
    evals,
    insights,
    knowledge,
    persona,
    serving,
    setup,
    tryout,
    turns,
    users,
    webhooks,
)
from ceoline.cli.common import ConfigOption, state
from ceoline.errors import CeolineError

app = typer.Typer(
    help="ceoline: an on-prem AI CEO hotline. Every call is answered locally and kept as feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Top-level commands, in the order `--help` lists them.
for commands in (tryout.top, serving.top, calls.top, insights.top, setup.top):
    app.add_typer(commands)
for group, name in (
    (calls.calls_app, "calls"),
    (knowledge.knowledge_app, "knowledge"),
    (insights.insights_app, "insights"),
    (webhooks.app, "webhooks"),
    (evals.eval_app, "eval"),
    (evals.guardrails_app, "guardrails"),
    (persona.persona_app, "persona"),
    (turns.turn_app, "turn"),
    (users.users_app, "users"),
    (cluster.cluster_app, "cluster"),
    (serving.service_app, "service"),
    (setup.models_app, "models"),
):
    app.add_typer(group, name=name)


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
    state.config_path = config
    state.log_level_given = log_level is not None


def main() -> None:
    try:
        app()
    except CeolineError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
