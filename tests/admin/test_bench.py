import asyncio

from ceoline.admin.bench import MODES, format_table, run_bench
from ceoline.voice.timings import STAGES, percentile


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([], 50) is None and percentile([7.0], 95) == 7.0


def test_bench_measures_both_modes_with_the_real_models(engines):
    result = asyncio.run(run_bench(engines, calls=1, turns_per_call=1))
    summary = result.summary()
    for mode in MODES:
        assert len(result.turns[mode]) == 1
    for stage in STAGES:
        assert summary["stages"][stage]["streaming"]["p50"] is not None, stage
    table = format_table(summary)
    assert "response" in table and "base/stream" in table
