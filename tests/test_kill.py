"""The kill test: a store writer under load SIGKILLed at random moments, 100 times (the
1,000-round run is `scripts/kill_test.py --rounds 1000`, in docs/benchmarks.md).

After every kill the store is opened as ``ceoline serve`` opens it at start-up: integrity
holds, every acknowledged turn is there, and no call is left open (scripts/kill_test.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT

ROUNDS = 100


def test_a_hundred_kills_lose_nothing_acknowledged(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/kill_test.py"),
            *("--rounds", str(ROUNDS), "--data", str(tmp_path), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    result = json.loads(run.stdout)
    print(f"\n{json.dumps({k: v for k, v in result.items() if k != 'failures'})}")
    assert result["rounds"] == ROUNDS
    assert result["failures"] == [] and result["failed_rounds"] == 0, result["failures"]
    assert run.returncode == 0
    # The kills landed while work was in flight, and recovery had calls to close.
    assert result["turns"] > ROUNDS and result["closed"] > ROUNDS / 2
