"""Training and evaluating the persona adapter."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    config_of,
    safe,
)
from ceoline.errors import CeolineError

persona_app = typer.Typer(help="Train and evaluate the persona LoRA adapter.", no_args_is_help=True)


@persona_app.command("train")
def persona_train(
    corpus: Annotated[
        Path | None,
        typer.Option(help="JSON lines: topic, prompt, reply (default: [persona.train] corpus)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Adapter GGUF to write (default: [persona.train] out)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Passes over the corpus (default: from config).")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many steps (a quick trial).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Train a LoRA on the base LLM from the CEO's past remarks; export a llama.cpp adapter.

    Needs the train extra (`make persona` installs it). Prints the adapter's sha256 and its
    base's, for [models] adapter_base_sha256 and the manifest (`ceoline doctor --pin`).
    """
    import dataclasses

    from ceoline.engines import HASH_CACHE_NAME
    from ceoline.locator import HashCache, locate, write_manifest
    from ceoline.persona.profile import load_persona
    from ceoline.persona.training import train

    cfg = config_of(config)
    settings = cfg.persona.train
    if epochs is not None:
        settings = dataclasses.replace(settings, epochs=epochs)
    report = train(
        cfg,
        load_persona(cfg.persona_file),
        corpus or cfg.path(settings.corpus),
        out or cfg.path(settings.out),
        settings=settings,
        max_steps=max_steps,
    )
    typer.echo(
        f"wrote {report.out}: {report.examples} examples, {report.steps} steps in "
        f"{report.seconds / 60:.1f} min, loss {report.first_loss:.3f} -> {report.last_loss:.3f}"
    )
    typer.echo(f"adapter sha256 {report.sha256}")
    typer.echo(f"base sha256    {report.base_sha256}")
    in_use = None
    if cfg.models.adapter:
        with contextlib.suppress(CeolineError):
            in_use = locate("adapter", cfg.models.adapter, cfg.models_dir)
    if in_use is not None and in_use.path.resolve() == report.out.resolve():
        # The admin retrained the adapter in use: pin the new file, or the next start refuses it.
        cache = HashCache(cfg.data_dir / HASH_CACHE_NAME)
        write_manifest(cfg.path(cfg.models.manifest), [in_use], cache)
        typer.echo(f"pinned in {cfg.path(cfg.models.manifest)}")
    if report.base_sha256 != cfg.models.adapter_base_sha256:
        typer.echo(f'note: set [models] adapter_base_sha256 = "{report.base_sha256}" to serve it')


@persona_app.command("eval")
def persona_eval(
    heldout: Annotated[
        Path | None,
        typer.Option(help="Held-out JSON lines (default: [persona.train] heldout)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Score only the first N held-out lines.")
    ] = None,
    guardrails: Annotated[
        Path | None,
        typer.Option("--guardrails", help="Guardrail set to run with and without the adapter."),
    ] = Path("tests/data/guardrails.jsonl"),
    skip_guardrails: Annotated[
        bool, typer.Option("--skip-guardrails", help="Do not run the guardrail set.")
    ] = False,
    merged: Annotated[
        Path | None,
        typer.Option(help="Score this merged model too (`ceoline persona merge` writes one)."),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Base vs base + adapter on the held-out prompts: NLL, style, guardrail pass rate;
    with --merged, the merged model beside them.

    Exits 1 when the adapter does not lower held-out NLL or lowers the guardrail pass rate,
    or the merged model is not the adapter's persona.
    """
    from ceoline.engines import HASH_CACHE_NAME, fitting_adapter, locate_all
    from ceoline.locator import HashCache
    from ceoline.persona.corpus import load_examples
    from ceoline.persona.evaluation import compare
    from ceoline.persona.profile import load_persona
    from ceoline.trust.guardrail_eval import load_cases
    from ceoline.trust.knowledge import open_knowledge

    cfg = config_of(config)
    if not cfg.models.adapter:
        raise CeolineError('[models] adapter = "": there is no adapter to evaluate; set one')
    examples = load_examples(heldout or cfg.path(cfg.persona.train.heldout))[:limit]
    cases = None if skip_guardrails or guardrails is None else load_cases(guardrails)
    models = locate_all(cfg)
    adapter = fitting_adapter(cfg, models, HashCache(cfg.data_dir / HASH_CACHE_NAME))
    report = compare(
        cfg,
        load_persona(cfg.persona_file),
        models["llm"],
        adapter,
        examples,
        cases,
        open_knowledge(cfg),
        merged=merged_files(merged) if merged else None,
    )
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        b, a = data["base"], data["adapter"]
        typer.echo(f"{report.examples} held-out prompts, {b['reference_tokens']} reference tokens")
        typer.echo(f"{'':22}{'base':>10}{'adapter':>10}")
        typer.echo(f"{'NLL per token':22}{b['nll']:>10.3f}{a['nll']:>10.3f}")
        typer.echo(f"{'perplexity':22}{b['perplexity']:>10.2f}{a['perplexity']:>10.2f}")
        for trait in a["style"]:
            typer.echo(f"{'style ' + trait:22}{b['style'][trait]:>10.2f}{a['style'][trait]:>10.2f}")
        if cases:
            typer.echo(
                f"{'guardrail pass rate':22}{b['guardrail_pass_rate']:>10.1%}"
                f"{a['guardrail_pass_rate']:>10.1%}"
            )
        if report.merged is not None:
            m = data["merged"]
            typer.echo(
                f"merged {merged}: NLL {m['nll']:.3f} ({data['merged_nll_gap']:+.3f} against the "
                f"adapter), guardrails {_rate(m['guardrail_pass_rate'])}, style "
                + ", ".join(f"{k} {v:.2f}" for k, v in m["style"].items())
                + ("" if report.merged_same_persona else "  NOT the adapter's persona")
            )
        for sample in data["samples"]:
            typer.echo(f"\ncaller:  {safe(sample['prompt'])}")
            typer.echo(f"base:    {safe(sample['base'])}")
            typer.echo(f"adapter: {safe(sample['adapter'])}")
    if not (report.nll_improved and report.guardrails_held):
        raise typer.Exit(1)
    if report.merged_same_persona is False:
        raise typer.Exit(1)


def _rate(value: float | None) -> str:
    return "not run" if value is None else f"{value:.1%}"


def merged_files(path: Path):
    from ceoline.locator import ModelFiles

    if not path.is_file():
        raise CeolineError(f"--merged {path}: no such file; write one with `ceoline persona merge`")
    return ModelFiles("llm", str(path), path, path.parent, (path,))


@persona_app.command("merge")
def persona_merge(
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write it (default: [models] dir/persona-merged.gguf)."),
    ] = None,
    scale: Annotated[
        float, typer.Option(min=0.0, max=4.0, help="The adapter's weight, as adapter_scale.")
    ] = 1.0,
    weight_type: Annotated[
        str, typer.Option("--type", help="Type of the adapted weights: Q8_0 or F16.")
    ] = "Q8_0",
    force: Annotated[
        bool, typer.Option(help="Merge again even when the file was made from these inputs.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Fold the persona adapter into the base model's weights: one GGUF that needs no adapter
    at run time ([models] merged, what calls load). The same inputs give the same bytes on
    every CPU; a file already made from the same inputs is left as it is."""
    from ceoline.engines import locate_all
    from ceoline.locator import sha256_file
    from ceoline.persona.merge import merge_adapter, merged_from

    cfg = config_of(config)
    if not cfg.models.adapter:
        raise CeolineError('[models] adapter = "": there is no adapter to merge; set one')
    models = locate_all(cfg, merged=False)
    target = out or cfg.models_dir / (cfg.models.merged or "persona-merged.gguf")
    made = merged_from(target) if target.is_file() and not force else None
    if made is not None and made.is_from(
        sha256_file(models["llm"].path), sha256_file(models["adapter"].path), scale, weight_type
    ):
        typer.echo(f"{target} is up to date (same base, adapter, scale and type)")
        return
    report = merge_adapter(models["llm"].path, models["adapter"].path, target, scale, weight_type)
    typer.echo(
        f"wrote {report.path}: {report.merged} weights merged as {report.weight_type}, "
        f"{report.copied} copied; largest change {report.largest_change:.4f}; "
        f"sha256 {report.sha256}"
    )
