"""The labelled evaluations: guardrails, answers, insights, turns, over-talk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ceoline.cli.common import (
    ConfigOption,
    JsonOption,
    config_of,
    line_stages,
    pick,
    safe,
)
from ceoline.errors import CeolineError

guardrails_app = typer.Typer(help="Check the guardrails.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate the hotline on labelled sets.", no_args_is_help=True)


@guardrails_app.command("eval")
def guardrails_eval(
    cases: Annotated[
        Path,
        typer.Option("--set", help="Labelled caller lines (JSON lines: text, expect)."),
    ] = Path("tests/data/guardrails.jsonl"),
    line: Annotated[
        str | None,
        typer.Option(
            "--line",
            help="Decide in this line's language and persona (a name from the config's lines; "
            "default: the first).",
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Run the labelled off-limits and adversarial lines through the real reply path, in
    the line's language (tests/data/guardrails-sv.jsonl for a Swedish line).

    Exits 1 when the pass rate is under 95 %.
    """
    from ceoline.trust.guardrail_eval import evaluate, load_cases

    cfg = config_of(config)
    loaded = load_cases(cases)
    engines = line_stages(cfg, line)
    report = evaluate(engines, loaded, engines.knowledge)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        data = report.as_json()
        typer.echo(
            f"{data['passed']}/{data['cases']} passed ({data['pass_rate']:.1%}); model lines "
            f"caught by the bot-side check: {data['model_lines_caught_by_bot_check']}"
        )
        if len(data["by_split"]) > 1:
            for split, part in data["by_split"].items():
                typer.echo(f"  {split}: {part['passed']}/{part['cases']} ({part['pass_rate']:.1%})")
        for failure in data["failures"]:
            typer.echo(
                f"  FAIL expect={failure['expect']} got={failure['got']}: "
                f"{safe(failure['text'])} -> {safe(failure['spoken'])}"
            )
    if report.pass_rate < 0.95:
        raise typer.Exit(1)


LinesOption = Annotated[
    str, typer.Option(help="Comma-separated lines: wide (16 kHz), phone (8 kHz µ-law).")
]


@eval_app.command("answers")
def eval_answers(
    questions: Annotated[
        Path,
        typer.Option("--set", help="Labelled company questions (JSON lines: id, question, fact)."),
    ] = Path("tests/data/company_questions.jsonl"),
    voices: Annotated[
        str,
        typer.Option(
            help="Comma-separated voices to speak them in: piper (the line's own voice), "
            "espeak (espeak-ng in the line's language), text (the words unspoken)."
        ),
    ] = "piper,espeak",
    lines: LinesOption = "wide,phone",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N questions.")] = 1000,
    calls: Annotated[
        int, typer.Option(min=0, help="Whole simulated calls to time, after the greeting.")
    ] = 10,
    line: Annotated[
        str | None,
        typer.Option(
            "--line",
            help="Ask them on this hotline line (a name from the config's lines: its persona, "
            "notes, Whisper and voice; default: the first). --set should hold its questions.",
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Ask the company questions as callers do and score the answers.

    Prints the correct-fact, wrong-fact and honest don't-know rates (overall, per variant,
    and for the tuning and held-out parts), word error rate with and without the hotwords,
    Whisper's time per turn, and response p50/p95. Exits 1 when a target is missed (correct
    fact at least 95 %, wrong fact 0 %, don't-know at least 95 %).
    """
    from ceoline.admin.answer_eval import LINES, VOICES, evaluate, load_questions

    chosen_voices = tuple(v.strip() for v in voices.split(",") if v.strip())
    chosen_lines = tuple(x.strip() for x in lines.split(",") if x.strip())
    for given, allowed, what in ((chosen_voices, VOICES, "voice"), (chosen_lines, LINES, "line")):
        bad = [g for g in given if g not in allowed]
        if bad or not given:
            raise CeolineError(
                f"--{what}s {','.join(bad) or '(none)'}: choose from {', '.join(allowed)}"
            )
    cfg = config_of(config)
    loaded = load_questions(questions)[:limit]
    report = evaluate(line_stages(cfg, line), loaded, chosen_voices, chosen_lines, calls=calls)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:

        def pct(value):
            return "n/a" if value is None else f"{value:.1%}"

        typer.echo(
            f"{data['answerable']} answers over {len(data['correct_by_variant'])} "
            f"variants: correct fact {pct(data['correct_fact_rate'])}, wrong fact "
            f"{pct(data['wrong_fact_rate'])}; {data['unanswerable']} unanswerable: honest "
            f"don't-know {pct(data['dont_know_rate'])}"
        )
        typer.echo(
            f"word error rate {pct(data['word_error_rate'])} (without hotwords "
            f"{pct(data['word_error_rate_without_hotwords'])}); names heard "
            f"{pct(data['names_heard'])} (without {pct(data['names_heard_without_hotwords'])})"
        )
        typer.echo(
            f"response over {data['calls']} calls: p50 {data['response_ms_p50']} ms, "
            f"p95 {data['response_ms_p95']} ms; model sentences dropped by the notes check: "
            f"{data['dropped_model_sentences']}"
        )
        typer.echo(
            f"speech to text per turn: p50 {data['stt_ms_p50']} ms, p95 {data['stt_ms_p95']} ms"
        )
        for variant, rate in data["correct_by_variant"].items():
            typer.echo(f"  {variant:<14} correct {pct(rate)}")
        for split, rates in data["by_split"].items():
            typer.echo(
                f"  {split:<14} {rates['questions']} questions: correct "
                f"{pct(rates['correct_fact_rate'])}, wrong {pct(rates['wrong_fact_rate'])}, "
                f"don't-know {pct(rates['dont_know_rate'])}"
            )
        for failure in data["failures"]:
            typer.echo(
                f"  FAIL {failure['id']} [{failure['variant']}] heard {safe(failure['heard'])!r}"
                f" -> {safe(failure['reply'])}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("insights")
def eval_insights(
    calls_set: Annotated[
        Path,
        typer.Option("--set", help="Labelled calls (JSON lines: turns, expected items, split)."),
    ] = Path("tests/data/insights/calls.jsonl"),
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods: model, rules, shipped.")
    ] = "model,rules,shipped",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N calls.")] = 1000,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Score call insights on labelled calls, every method in one run.

    Prints, per method and for the tuning and held-out parts: item precision and recall,
    accuracy of type, area, sentiment, urgency and follow-up, urgent recall and false-urgent
    rate per call, summaries that repeat the bot or state an unsupported figure or name, and
    the themes' pairwise F1. Exits 1 when what ships misses a target.
    """
    from ceoline.admin.insights_eval import METHODS, evaluate, load_calls
    from ceoline.insights.faithful import read_notes
    from ceoline.insights.summary import load_taxonomy
    from ceoline.insights.worker import model_for

    chosen = pick("--methods", methods, METHODS)
    cfg = config_of(config)
    areas = load_taxonomy(cfg.path(cfg.insights.taxonomy))
    labelled = load_calls(calls_set)[:limit]
    draft = None
    if "model" in chosen or "shipped" in chosen:
        model = model_for(cfg)
        if model is not None:

            def draft(call):
                return model.generate(call, areas, cfg.insights.max_tokens)

    report = evaluate(labelled, areas, read_notes(cfg.knowledge_dir), draft, chosen)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:

        def pct(value):
            return "n/a" if value is None else f"{value:.0%}"

        for method, parts in data["methods"].items():
            for part, r in (("all", parts["all"]), *parts["by_split"].items()):
                typer.echo(
                    f"{method:<8} {part:<8} {r['calls']:>3} calls: items P {pct(r['precision'])}"
                    f" R {pct(r['recall'])}; type {pct(r['type'])} area {pct(r['area'])} "
                    f"sentiment {pct(r['sentiment'])} urgency {pct(r['urgency'])} follow-up "
                    f"{pct(r['followup'])}; urgent recall {pct(r['urgent_recall'])} false "
                    f"{pct(r['false_urgent'])}; summaries with a bot sentence "
                    f"{r['summaries_with_bot_sentence']}, unsupported "
                    f"{r['summaries_with_unsupported']}"
                )
            typer.echo(f"{method:<8} themes pairwise F1 {data['themes_pairwise_f1'][method]}")
        if data["model_ms_p50"] is not None:
            typer.echo(
                f"model draft per call: p50 {data['model_ms_p50']:.0f} ms, "
                f"p95 {data['model_ms_p95']:.0f} ms"
            )
    if "shipped" in chosen and not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("turns")
def eval_turns(
    turn_set: Annotated[
        Path,
        typer.Option("--set", help="The labelled pause set (turns.jsonl beside its audio/)."),
    ] = Path("tests/data/turns/turns.jsonl"),
    lines: LinesOption = "wide,phone",
    limit: Annotated[int, typer.Option(min=1, help="Use only the first N turns.")] = 10000,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Replay caller turns with labelled pauses and score when the bot would start.

    For the turn model and, in the same run, the fixed silence window: false cut-off rate
    (the bot starts while the caller holds), end-of-turn delay p50/p95 on finished turns (and
    on finished statements alone), and the work started at pauses the caller then spoke on;
    overall, for the tune and held-out parts of the set, and per voice and line. Exits 1 when
    the turn model cuts callers off more than 5 % of holds, or more often than the fixed
    window.
    """
    from ceoline.admin.turn_eval import LINES, evaluate, load_turns

    chosen = pick("--lines", lines, LINES)
    cfg = config_of(config)
    report = evaluate(line_stages(cfg), load_turns(turn_set)[:limit], chosen)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(
            f"{'':<16}{'policy':<7}{'turns':>6}{'holds':>6}{'cut-offs':>9}{'rate':>7}"
            f"{'delay p50':>10}{'p95':>6}{'statements p50':>15}{'wasted/turn':>12}"
        )
        rows = [("all", data["overall"]), *data["by_split"].items(), *data["by_variant"].items()]
        typer.echo("turn model vs the fixed window (delays in ms; wasted: starts per turn)")
        for name, policies in rows:
            for policy, r in policies.items():
                rate = r["false_cut_off_rate"]
                rate = "n/a" if rate is None else f"{rate:.1%}"
                p50, p95 = r["end_delay_ms_p50"] or 0, r["end_delay_ms_p95"] or 0
                statements = r["statement_end_delay_ms_p50"] or 0
                typer.echo(
                    f"{name:<16}{policy:<7}{r['turns']:>6}{r['holds']:>6}{r['false_cut_offs']:>9}"
                    f"{rate:>7}{p50:>10.0f}{p95:>6.0f}{statements:>15.0f}"
                    f"{r['wasted_starts_per_turn'] or 0:>12.2f}"
                )
        for cut in data["overall"]["model"]["cut_offs"]:
            typer.echo(
                f"  CUT {cut['file']} [{cut['line']}] heard {safe(cut['heard'])!r} "
                f"of {safe(cut['said'])!r}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)


@eval_app.command("overtalk")
def eval_overtalk(
    overtalk_set: Annotated[
        Path,
        typer.Option("--set", help="The over-talk set folder (lines.jsonl, cases.jsonl, audio/)."),
    ] = Path("tests/data/overtalk"),
    fronts: Annotated[
        str,
        typer.Option(
            help="Comma-separated: canceller (the call's own path), aec3 (AEC3's output "
            "always), gate (the level gate it replaced)."
        ),
    ] = "canceller,aec3,gate",
    every: Annotated[int, typer.Option(min=1, help="Use every N-th case only.")] = 1,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Replay callers talking over the greeting and replies, with and without the bot's echo.

    Word error rate over the bot against the same lines in silence, requests for a person
    over the greeting that escalate, and on echo alone: barge-ins, words heard and ERLE.
    Exits 1 when the call's own path misses a target: WER within 5 points of silence, no
    request for a person that escalates in silence lost over the greeting, no barge-in and
    no words from echo alone.
    """
    from ceoline.admin.overtalk_eval import FRONTS, evaluate

    chosen = pick("--fronts", fronts, FRONTS)
    cfg = config_of(config)
    report = evaluate(line_stages(cfg), overtalk_set, chosen, every)
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(
            f"{data['cases']} cases; WER in % (over the bot / the same lines in silence); "
            "persons: escalated over the greeting / asked (in silence)"
        )
        typer.echo(
            f"{'front':<11}{'WER over':>9}{'silence':>8}{'gap':>6}{'persons':>9}"
            f"{'barge-ins':>10}{'echo heard':>11}{'ERLE p50':>9}{'min':>6}"
        )
        for name, r in data["fronts"].items():
            over, calm = (r["wer_over_talk"] or 0) * 100, (r["wer_in_silence"] or 0) * 100
            typer.echo(
                f"{name:<11}{over:>9.1f}{calm:>8.1f}{r['wer_gap_points'] or 0:>6.1f}"
                f"{r['persons_escalated']:>3}/{r['persons_over_greeting']:<2}"
                f"({r['persons_escalated_in_silence']})"
                f"{r['false_barge_ins']:>10}{r['echo_heard_as_speech']:>11}"
                f"{r['erle_db_p50'] or 0:>9.1f}{r['erle_db_min'] or 0:>6.1f}"
            )
        for name, r in data["fronts"].items():
            by = ", ".join(
                f"{k} {v * 100:.1f}" for k, v in r["wer_by_condition"].items() if v is not None
            )
            typer.echo(f"{name} WER by condition: {by}")
        for miss in data["fronts"]["canceller"]["worst"]:
            typer.echo(
                f"  MISHEARD {miss['line']} over {miss['over']} echo {miss['echo_db']} "
                f"caller {miss['caller_dbfs']} dBFS: {safe(miss['heard'])!r}"
            )
    if not report.meets_targets():
        raise typer.Exit(1)
