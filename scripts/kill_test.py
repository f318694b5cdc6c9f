"""Nothing acknowledged is lost at a crash: SIGKILL a store writer under load, many times.

Each round starts a writer process on one data directory: two threads, as the call loop's
worker threads do, create calls and commit turns, events and call ends through
:class:`ceoline.store.Store`, and print a line for every write only after its commit has
returned. The writer is SIGKILLed at a random moment. Then, as ``ceoline serve`` does at
start-up, the store is opened and the calls the dead process left open are closed as
crashed. After every round the checks are: ``PRAGMA integrity_check`` is ok, every
acknowledged turn is stored with its text, no call is left open, every crashed call has its
insights job, and no call that ended cleanly was marked crashed.

    .venv/bin/python scripts/kill_test.py [--rounds 1000] [--data DIR] [--json]

Exits 1 when any round fails a check.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.store import CRASHED, Store, TurnRecord  # noqa: E402

# The kill lands anywhere from the first commits to a few hundred of them.
KILL_AFTER_S = (0.0, 0.4)
WORDS = ("invoice", "screen", "login", "reminder", "export", "slow", "crash", "thanks", "refund")


def write_forever(data_dir: Path, threads: int = 2) -> None:
    """The writer: calls, turns and ends from several threads until killed."""
    store = Store.open(data_dir, worker="kill-test")
    out = threading.Lock()

    def ack(*fields: object) -> None:
        with out:
            sys.stdout.write(" ".join(str(f) for f in fields) + "\n")
            sys.stdout.flush()

    def one_thread(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            call_id = store.create_call("sim", "kill-test", "persona")
            ack("call", call_id)
            store.add_event(call_id, "answered", "codec=PCMU/8000", 0)
            for k in range(rng.randint(1, 6)):
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
                role = "caller" if k % 2 == 0 else "bot"
                seq = store.add_turn(call_id, TurnRecord(role, text, k * 1000, k * 1000 + 900, {}))
                ack("turn", call_id, seq, text.replace(" ", "_"))
            if rng.random() < 0.7:
                store.end_call(call_id, "caller_hangup", rng.uniform(1, 60))
                ack("ended", call_id)

    ack("ready")
    workers = [threading.Thread(target=one_thread, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def acknowledged(lines: list[str]) -> tuple[set[str], dict[tuple[str, int], str], set[str]]:
    calls, turns, ended = set(), {}, set()
    for line in lines:
        fields = line.split()
        if fields[:1] == ["call"] and len(fields) == 2:
            calls.add(fields[1])
        elif fields[:1] == ["turn"] and len(fields) == 4:
            turns[(fields[1], int(fields[2]))] = fields[3].replace("_", " ")
        elif fields[:1] == ["ended"] and len(fields) == 2:
            ended.add(fields[1])
    return calls, turns, ended


def check(data_dir: Path, calls: set[str], turns: dict, ended: set[str]) -> tuple[list[str], int]:
    """Recover as serve does at start-up, then every check; (problems, calls closed)."""
    store = Store.open(data_dir)
    try:
        crashed = store.close_crashed_calls()
        problems = []
        with store.reading() as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
            stored = {}
            for call_id in {key[0] for key in turns}:
                rows = db.execute("SELECT seq, text FROM turns WHERE call_id = ?", [call_id])
                stored.update({(call_id, seq): text for seq, text in rows.fetchall()})
            for key, text in turns.items():
                if stored.get(key) != text:
                    problems.append(f"acknowledged turn {key} is {stored.get(key)!r}")
            known = {row[0] for row in db.execute("SELECT id FROM calls").fetchall()}
            problems += [f"acknowledged call {c} is missing" for c in calls - known]
            still_open = db.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL")
            if (n := still_open.fetchone()[0]) > 0:
                problems.append(f"{n} calls left open")
            queued = {row[0] for row in db.execute("SELECT call_id FROM insight_jobs")}
            problems += [f"crashed call {c} has no insights job" for c in set(crashed) - queued]
            for call_id in ended:
                reason = db.execute("SELECT end_reason FROM calls WHERE id = ?", [call_id])
                if (got := reason.fetchone()[0]) == CRASHED:
                    problems.append(f"call {call_id} ended cleanly but is marked {got}")
        return problems, len(crashed)
    finally:
        store.close()


def one_round(data_dir: Path, rng: random.Random) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--writer", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if first.strip() != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the writer did not start: {first!r} {proc.stderr.read()[-2000:]}")
    time.sleep(rng.uniform(*KILL_AFTER_S))
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    # A line cut by the kill is no acknowledgement; only whole lines count.
    lines = rest.split("\n")[:-1]
    calls, turns, ended = acknowledged(lines)
    problems, closed = check(data_dir, calls, turns, ended)
    return {"turns": len(turns), "calls": len(calls), "closed": closed, "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--data", type=Path, help="data directory (default: a new temporary one)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        write_forever(args.writer)
        return 0
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="ceoline-kill-") as tmp:
        data_dir = args.data or Path(tmp)
        Store.open(data_dir).close()  # migrations before the first kill
        started = time.monotonic()
        totals = {"rounds": 0, "turns": 0, "calls": 0, "closed": 0, "failed_rounds": 0}
        failures = []
        for n in range(args.rounds):
            result = one_round(data_dir, rng)
            totals["rounds"] += 1
            for key in ("turns", "calls", "closed"):
                totals[key] += result[key]
            if result["problems"]:
                totals["failed_rounds"] += 1
                failures.append({"round": n, "problems": result["problems"][:5]})
        totals["seconds"] = round(time.monotonic() - started, 1)
        db_bytes = sum(p.stat().st_size for p in data_dir.glob("ceoline.db*"))
        totals["store_bytes"] = db_bytes
    if args.json:
        print(json.dumps({**totals, "failures": failures[:20]}, indent=2))
    else:
        print(
            f"{totals['rounds']} kills in {totals['seconds']} s: {totals['turns']} acknowledged "
            f"turns over {totals['calls']} calls, {totals['closed']} calls closed as crashed, "
            f"{totals['failed_rounds']} rounds failed a check"
        )
        for failure in failures[:20]:
            print(f"  round {failure['round']}: {'; '.join(failure['problems'])}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
