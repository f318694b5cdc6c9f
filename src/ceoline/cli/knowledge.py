"""The notes the persona answers from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    checked_line,
    config_of,
)

knowledge_app = typer.Typer(
    help="Index and search the notes the persona answers from.", no_args_is_help=True
)


@knowledge_app.command("index")
def knowledge_index(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild the index even if no note changed.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Index the notes of every line (knowledge.dir, and each [[lines]] knowledge); rebuilds
    only notes where one was added, removed or edited."""
    from ceoline.lines import line_configs, notes_of
    from ceoline.trust.knowledge import KnowledgeBase

    cfg = config_of(config)
    for notes, name in dict.fromkeys(notes_of(cfg, setting) for setting in line_configs(cfg)):
        with KnowledgeBase.open(cfg.data_dir, min_score=cfg.knowledge.min_score, name=name) as kb:
            stats = kb.index(notes, force=force)
        outcome = "index rebuilt" if stats.changed else "unchanged, index already up to date"
        where = " + ".join(map(str, notes))
        typer.echo(f"{stats.files} files, {stats.passages} passages in {where}: {outcome}")


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
    line: Annotated[
        str | None,
        typer.Option(
            help="Search this line's notes (a name from the config's lines; default: the first)."
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show the passages the persona would be given for TEXT, best first, with scores."""
    import dataclasses
    import textwrap

    from ceoline.lines import line_configs, notes_of
    from ceoline.trust.knowledge import open_knowledge

    cfg = config_of(config)
    settings = {setting.name: setting for setting in line_configs(cfg)}
    line = checked_line(cfg, line)
    notes, name = notes_of(cfg, settings[line] if line else next(iter(settings.values())))
    limit = cfg.knowledge.max_passages if limit is None else limit
    with open_knowledge(cfg, notes, name) as kb:
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
