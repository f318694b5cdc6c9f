"""`ceoline turn`: the trained end-of-turn reader."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import ConfigOption, JsonOption, config_of
from ceoline.errors import CeolineError

turn_app = typer.Typer(
    help="The turn reader: is the caller's utterance finished?", no_args_is_help=True
)

# What the held-out statements must reach for a new reader to be written.
MIN_HELDOUT_STATEMENTS_AUC = 0.9


@turn_app.command("train")
def turn_train(
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write it (default: [models] dir/[models] turn_reader)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Train and report only; write nothing.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Train the turn reader on the project's caller turns, cut at every word, as the reply
    model in use reads them; report ROC AUC on the tune and held-out parts beside the reply
    model's P(end of message) alone. The file is written (and pinned, when it is the one in
    use) only when the held-out statements reach 0.9; exits 1 below that. About 8 minutes
    on 2 cores."""
    from ceoline.admin import turn_training
    from ceoline.engines import HASH_CACHE_NAME, locate_all, reply_model
    from ceoline.locator import HashCache, locate, write_manifest
    from ceoline.persona.profile import load_persona
    from ceoline.voice.llm import LanguageModel
    from ceoline.voice.turn_reader import TurnReader

    cfg = config_of(config)
    target = out or cfg.models_dir / (cfg.models.turn_reader or "turn-reader.json")
    # The reader being built is not needed to build it.
    models = locate_all(replace(cfg, models=replace(cfg.models, turn_reader="")))
    model, adapter = reply_model(cfg, models, HashCache(None))
    llm = LanguageModel(model, cfg.llm, cfg.runtime, adapter=adapter)
    persona = load_persona(cfg.persona_file)
    root = Path(__file__).resolve().parents[3]
    turns = turn_training.caller_turns(root)
    exchanges = turn_training.earlier_exchanges(root)
    examples = turn_training.read_examples(llm, persona.system_prompt(), turns, exchanges)
    weights, c = turn_training.fit(examples)
    reader = TurnReader.from_weights(weights, model_sha256="", model=llm)
    p = reader.probabilities(examples.x)
    report = {
        "reader": turn_training.score(examples, p),
        "reply_model_alone": turn_training.reading_auc(examples),
        "c": c,
        "reading_s": round(examples.seconds, 1),
    }
    heldout = report["reader"]["heldout"]["statements_auc"] or 0.0
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"{len(turns)} turns, {len(examples.words)} cuts read in {examples.seconds:.0f} s"
        )
        typer.echo(f"{'ROC AUC':<34}{'tune':>8}{'held-out':>10}")
        for name, scores in (
            ("reader, all cuts", ("reader", "auc")),
            ("reader, statements", ("reader", "statements_auc")),
            ("  written", ("reader", "written_statements_auc")),
            ("  heard", ("reader", "heard_statements_auc")),
            ("reader, questions", ("reader", "questions_auc")),
            ("P(end of message), all cuts", ("reply_model_alone", "auc")),
            ("P(end of message), statements", ("reply_model_alone", "statements_auc")),
            ("  written", ("reply_model_alone", "written_statements_auc")),
            ("  heard", ("reply_model_alone", "heard_statements_auc")),
        ):
            part, key = scores
            tune, held = report[part]["tune"][key], report[part]["heldout"][key]
            typer.echo(f"{name:<34}{tune or 0:>8.3f}{held or 0:>10.3f}")
    if heldout < MIN_HELDOUT_STATEMENTS_AUC:
        raise CeolineError(
            f"the reader reaches ROC AUC {heldout:.3f} on held-out statements, under "
            f"{MIN_HELDOUT_STATEMENTS_AUC}; {target} is left as it was"
        )
    if check:
        return
    cache = HashCache(cfg.data_dir / HASH_CACHE_NAME)
    turn_training.write_reader(target, weights, cache.sha256(model.path), report)
    typer.echo(f"wrote {target}")
    if cfg.models.turn_reader:
        in_use = locate("turn_reader", cfg.models.turn_reader, cfg.models_dir)
        if in_use.path.resolve() == target.resolve():
            # The reader in use was rebuilt: pin the new file, or the next start refuses it.
            write_manifest(cfg.path(cfg.models.manifest), [in_use], cache)
            typer.echo(f"pinned in {cfg.path(cfg.models.manifest)}")
