import asyncio

from ceoline.admin.bench import KINDS, MODES, PROMPTS, BenchResult, format_table, run_bench
from ceoline.voice.timings import STAGES, percentile


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0


def test_the_prompts_cover_every_kind_of_turn_and_end_calls_with_the_handoff():
    assert set(KINDS) == {"company", "feedback", "complaint", "off_limits", "handoff"}
    # Two turns per call: a hand-off request must be the second, or it ends the call early.
    assert all(i % 2 == 1 for i, (kind, _) in enumerate(PROMPTS) if kind == "handoff")


def test_figures_are_kept_per_kind_and_overall():
    result = BenchResult(calls=1)
    result.turns["streaming"] = [
        {"kind": "company", "response": 600.0},
        {"kind": "company", "response": 800.0},
        {"kind": "feedback", "response": 1500.0},
    ]
    kinds = result.by_kind()
    assert kinds["company"]["response"] == {"p50": 600.0, "p95": 800.0, "n": 2}
    assert kinds["all"]["response"]["n"] == 3 and kinds["handoff"]["response"]["n"] == 0


def test_bench_measures_both_modes_with_the_real_models(engines):
    result = asyncio.run(run_bench(engines, calls=1, turns_per_call=1))
    summary = result.summary()
    for mode in MODES:
        assert len(result.turns[mode]) == 1
        assert result.turns[mode][0]["kind"] == PROMPTS[0][0]
    for stage in STAGES:
        assert summary["stages"][stage]["streaming"]["p50"] is not None, stage
    table = format_table(summary)
    assert "response" in table and "base/stream" in table and "company" in table
    # The streamed loop judges its turns with the turn model and prepares the reply.
    spec = summary["speculation"]
    assert spec["turns"] == 1 and spec["prepared"] == 1 and spec["turn_model_ms_p50"] > 0
    assert "prepared during the pause: 1 of 1" in table
