"""Sweep the turn judge's reader settings over the pause set's tune part.

Each setting is replayed causally over the tune part of ``tests/data/turns/`` (both voices,
wideband and through 8 kHz µ-law), exactly as ``ceoline eval turns`` replays it; the models'
outputs are computed once and reused (``turn_eval.Memo``), each still landing after the time
it took the first time. The held-out part is never read: choose here, then confirm the choice
with ``ceoline eval turns``, which reports both parts.

    .venv/bin/python scripts/turn_sweep.py [--limit N] [--json]

Prints, per setting: false cut-offs (rate), end-of-turn delay p50 / p95 on all finished turns
and on statements, and statements p50 by voice.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.admin.turn_eval import Memo, evaluate, load_turns  # noqa: E402
from ceoline.config import load_config  # noqa: E402
from ceoline.engines import Engines  # noqa: E402

# Edit to sweep other [turn] keys; every combination is replayed.
GRID = {
    "reader_threshold": (0.15, 0.2, 0.25, 0.3, 0.4),
    "reader_verdict": (0.5, 0.7, 0.8),
    "reader_alone": (0.4, 0.45),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100000, help="only the first N turns")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--memo", type=Path, help="keep the models' outputs in this file, for the next sweep"
    )
    args = parser.parse_args()
    config = load_config()
    engines = Engines.load(config, warm=False).on_line()
    turns = [t for t in load_turns(ROOT / "tests/data/turns/turns.jsonl") if t.split == "tune"][
        : args.limit
    ]
    memo = pickle.loads(args.memo.read_bytes()) if args.memo and args.memo.exists() else Memo()
    rows = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        started = time.perf_counter()
        cfg = replace(config, turn=replace(config.turn, **setting))
        report = evaluate(engines, turns, memo=memo, config=cfg)
        model = report.overall["model"].as_json()
        by_voice = {
            v: r["model"].as_json()["statement_end_delay_ms_p50"]
            for v, r in report.by_variant.items()
        }
        row = {
            **setting,
            "cut_off_rate": model["false_cut_off_rate"],
            "p50": model["end_delay_ms_p50"],
            "p95": model["end_delay_ms_p95"],
            "statements_p50": model["statement_end_delay_ms_p50"],
            "statements_p95": model["statement_end_delay_ms_p95"],
            "statements_p50_by_variant": by_voice,
            "seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        if args.memo and len(rows) == 1:
            args.memo.write_bytes(pickle.dumps(memo))
        if not args.json:
            print(
                " ".join(f"{k}={v}" for k, v in setting.items()),
                f"| cut-offs {row['cut_off_rate']:.3f} | all {row['p50']:.0f}/{row['p95']:.0f}"
                f" | statements {row['statements_p50']:.0f}/{row['statements_p95']:.0f} |",
                " ".join(f"{v} {d:.0f}" for v, d in by_voice.items()),
                f"({row['seconds']} s)",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
