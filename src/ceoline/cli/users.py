"""Dashboard users and their roles."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    config_of,
)
from ceoline.errors import CeolineError

users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)


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
    store = Store.open(config_of(config).data_dir)
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

    store = Store.open(config_of(config).data_dir)
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

    store = Store.open(config_of(config).data_dir)
    try:
        remove_user(store, name)
    finally:
        store.close()
    typer.echo(f"removed {name}")
