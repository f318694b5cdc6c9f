"""Response time over real SIP calls, and how many simultaneous calls this box holds.

Starts `ceoline serve` on loopback (its own data directory), then places waves of calls with
`ceoline dial` at 1, 2, ... simultaneous callers. Each caller waits for the greeting, asks
two questions and listens to each answer. ``response`` is measured on the caller's side of
the line: from the end of the caller's last voiced frame to the first audible frame of the
reply, through RTP, the jitter buffer and the codec. The server's own per-turn ``response``
(stored with each turn) is reported beside it. Figures are p50/p95; the ratio is against the
single-call level measured in the same run. Last, how long after each hang-up the call's
summary and items were in the store for the dashboard, once the insights worker (which yields
to live calls) has caught up.

    .venv/bin/python scripts/sip_bench.py [--levels 1,2,3,4] [--waves 3] [--json]
    .venv/bin/python scripts/sip_bench.py --workers 2 [--max-calls 4]   # through Kamailio
    .venv/bin/python scripts/sip_bench.py --caller espeak --levels 1   # an unseen voice, PCMU

With ``--caller espeak`` each caller is a voice the bot never speaks with (espeak-ng) saying
three feedback lines, finished statements, over 8 kHz PCMU: the turns callers mostly bring,
and the ones that used to wait ``[turn] statement_ms`` for their end.

With ``--workers N`` the server is a cluster (N workers behind Kamailio) and the levels ramp
from 1 to N × max-calls simultaneous callers; the knee is the first level whose heard p95 is
more than 1.5 times the single call's.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ceoline.store import Store  # noqa: E402
from ceoline.voice.timings import percentile  # noqa: E402

PROMPTS = [ROOT / "tests/data/question-mission.wav", ROOT / "tests/data/question-founding.wav"]
FEEDBACK_LINES = (
    "I would like the app to show my payment history.",
    "The invoice reminders go out at the wrong time of day.",
    "I was charged twice for my subscription this month.",
)
CEOLINE = [sys.executable, "-m", "ceoline"]
LIMIT_MS = 2000


def start_server(
    workdir: Path, port: int, max_calls: int, workers: int = 1, inference: str = "local"
) -> subprocess.Popen:
    config = workdir / "ceoline.toml"
    config.write_text(
        f'[models]\ndir = "{ROOT / "models"}"\nmanifest = "{ROOT / "models/manifest.toml"}"\n'
        f'[persona]\nfile = "{ROOT / "configs/persona.toml"}"\n'
        f'[knowledge]\ndir = "{ROOT / "configs/knowledge"}"\n'
        f'[insights]\ntaxonomy = "{ROOT / "configs/taxonomy.toml"}"\n'
        f'[store]\ndata_dir = "{workdir / "data"}"\n'
        f"[sip]\nport = {port}\nrtp_port = 30000\nmax_calls = {max_calls}\n"
        "[call]\nsilence_prompt_s = 0\nsilence_timeout_s = 60\n"
        "[dashboard]\nenabled = false\n[metrics]\nenabled = false\n"
        f"[cluster]\nworkers = {workers}\n"
        f'[inference]\nmode = "{inference}"\nparallel = {max(4, max_calls)}\n'
    )
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [*CEOLINE, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120 * workers
    # The server's own banner (a cluster's workers print theirs prefixed with their name).
    while "\n  call it:" not in (workdir / "server.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                "ceoline serve did not start:\n" + (workdir / "server.log").read_text()
            )
        time.sleep(0.2)
    return proc


def espeak_prompts(workdir: Path) -> list[Path]:
    """The feedback lines spoken by espeak-ng, as WAVs ``ceoline dial`` plays."""
    from ceoline.voice import espeak
    from ceoline.voice.audio import SAMPLE_RATE, write_wav

    paths = []
    for n, line in enumerate(FEEDBACK_LINES):
        path = workdir / f"feedback-{n}.wav"
        write_wav(path, espeak.speak(line), SAMPLE_RATE)
        paths.append(path)
    return paths


def wave(uri: str, callers: int, prompts: list[Path], codec: str | None) -> list[dict]:
    procs = []
    for i in range(callers):
        args = [*CEOLINE, "dial", uri, "--json", "--timeout", "240"]
        if codec:
            args += ["--codec", codec]
        for prompt in prompts:
            args += ["--play", str(prompt)]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, text=True))
        if i + 1 < callers:
            time.sleep(random.uniform(0.3, 1.5))  # callers do not dial in lockstep
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        results.append(json.loads(out) if out.strip() else {"connected": False, "turns": []})
    return results


def server_turns(data_dir: Path, since: str) -> list[dict]:
    """Each caller turn the server answered since ``since``: what it heard, when it judged the
    turn over (``endpoint``), what the words read (P(end), the turn reader's P(finished))
    and its own response time, in ms."""
    store = Store.open(data_dir)
    try:
        turns = []
        for row in store.list_calls(10000):
            if row["started_at"] < since:
                continue
            call = store.get_call(row["id"])
            for turn in call["turns"]:
                timings = turn["timings"]
                if turn["role"] == "caller" and "response" in timings:
                    turns.append(
                        {
                            "heard": turn["text"],
                            **{
                                k: timings.get(k)
                                for k in ("endpoint", "turn_words", "turn_finished", "response")
                            },
                            "timings": timings,
                        }
                    )
        return turns
    finally:
        store.close()


def insights_delays(data_dir: Path, timeout_s: float = 600) -> list[float]:
    """Seconds from each call's hang-up to its summary and items in the store (what the
    dashboard shows), once the insights worker has caught up."""
    store = Store.open(data_dir)
    try:
        deadline = time.monotonic() + timeout_s
        while set(store.insight_job_counts()) - {"done"} and time.monotonic() < deadline:
            time.sleep(1)
        rows = store.db.execute(
            "SELECT c.ended_at, i.created_at FROM calls c JOIN call_insights i ON i.call_id = c.id"
        ).fetchall()
    finally:
        store.close()
    return [
        (datetime.fromisoformat(made) - datetime.fromisoformat(ended)).total_seconds()
        for ended, made in rows
        if ended and made
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="", help="simultaneous callers per level (1,2,3,4)")
    parser.add_argument("--waves", type=int, default=3, help="waves of calls per level")
    parser.add_argument("--port", type=int, default=5098)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes behind Kamailio (levels default to 1 … workers × 4)",
    )
    parser.add_argument("--max-calls", type=int, default=4, help="calls per worker with --workers")
    parser.add_argument(
        "--inference",
        choices=("local", "shared", "both"),
        default="local",
        help="where the reply model runs; both: the sweep in each mode, in the same run",
    )
    parser.add_argument(
        "--caller",
        choices=("questions", "espeak"),
        default="questions",
        help="questions: two recorded questions over the default codec; espeak: three feedback "
        "lines in espeak-ng's voice over PCMU",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.levels:
        levels = [int(x) for x in args.levels.split(",")]
    elif args.workers > 1:
        levels = list(range(1, args.workers * args.max_calls + 1))
    else:
        levels = [1, 2, 3, 4]
    per_worker = args.max_calls if args.workers > 1 else max(levels)
    modes = ["local", "shared"] if args.inference == "both" else [args.inference]
    reports = {mode: sweep(args, levels, per_worker, mode) for mode in modes}
    if len(modes) == 2:
        shared, local = reports["shared"], reports["local"]
        for mine, theirs in zip(shared["levels"], local["levels"], strict=True):
            if mine["heard_p50"] and theirs["heard_p50"]:
                mine["heard_p50_vs_local"] = round(mine["heard_p50"] / theirs["heard_p50"], 2)
    if args.json:
        print(json.dumps(reports if len(modes) == 2 else reports[modes[0]], indent=2))
        return
    for mode, report in reports.items():
        if len(modes) == 2:
            print(f"\n[inference] mode = {mode}")
        show(report)


def resident_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def service_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "bin/llama-server "], capture_output=True, text=True)
    return [int(x) for x in found.stdout.split()]


def sweep(args, levels: list[int], per_worker: int, mode: str) -> dict:
    report = {"workers": args.workers, "inference": mode, "caller": args.caller, "levels": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prompts, codec = PROMPTS, None
        if args.caller == "espeak":
            prompts, codec = espeak_prompts(workdir), "PCMU"
        server = start_server(workdir, args.port, per_worker, args.workers, mode)
        uri = f"sip:hotline@127.0.0.1:{args.port}"
        try:
            for n in levels:
                since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                heard: list[float] = []
                failed = 0
                for w in range(args.waves):
                    print(f"{mode}, level {n}: wave {w + 1}/{args.waves}", file=sys.stderr)
                    for result in wave(uri, n, prompts, codec):
                        if not result.get("connected"):
                            failed += 1
                        heard += [t["response_ms"] for t in result["turns"] if t["response_ms"]]
                        failed += sum(1 for t in result["turns"] if t["response_ms"] is None)
                time.sleep(1)
                turns = server_turns(workdir / "data", since)
                served = [t["response"] for t in turns]
                report["levels"].append(
                    {
                        "callers": n,
                        "turns": len(heard),
                        "failed": failed,
                        "heard_p50": percentile(heard, 50),
                        "heard_p95": percentile(heard, 95),
                        "server_p50": percentile(served, 50),
                        "server_p95": percentile(served, 95),
                        "server_turns": turns,
                    }
                )
            # What each process holds after the sweep: the worker (one process here) and,
            # in shared mode, the service beside it.
            report["worker_rss_mib"] = resident_mib(server.pid)
            report["service_rss_mib"] = (
                sum(filter(None, map(resident_mib, service_pids()))) if mode == "shared" else None
            )
            delays = insights_delays(workdir / "data")
            report["insights_after_hangup_s"] = {
                "calls": len(delays),
                "p50": percentile(delays, 50),
                "p95": percentile(delays, 95),
                "max": max(delays) if delays else None,
            }
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    base = report["levels"][0]
    for level in report["levels"]:
        for q in ("p50", "p95"):
            value, ref = level[f"heard_{q}"], base[f"heard_{q}"]
            level[f"{q}_vs_1"] = round(value / ref, 2) if value and ref else float("nan")
    held = [
        lv["callers"]
        for lv in report["levels"]
        if lv["heard_p95"] is not None and lv["heard_p95"] < LIMIT_MS and not lv["failed"]
    ]
    report["max_callers_p95_under_2s"] = max(held) if held else 0
    # The knee: the first level whose heard p95 is more than 1.5 times the single call's.
    knee = [lv["callers"] for lv in report["levels"] if (lv.get("p95_vs_1") or 0) > 1.5]
    report["knee"] = knee[0] if knee else None
    return report


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def show(report: dict) -> None:
    print("callers  turns  heard p50   p95  server p50   p95  p50 vs 1  p95 vs 1  failed")
    for lv in report["levels"]:
        print(
            f"{lv['callers']:>7}  {lv['turns']:>5}  {ms(lv['heard_p50']):>9} "
            f"{ms(lv['heard_p95']):>5}  {ms(lv['server_p50']):>10} {ms(lv['server_p95']):>5}  "
            f"{lv['p50_vs_1']:>7.2f}x {lv['p95_vs_1']:>8.2f}x  {lv['failed']:>6}"
        )
    print(f"simultaneous calls with response p95 < 2 s: {report['max_callers_p95_under_2s']}")
    rss = [f"worker {report['worker_rss_mib']:.0f} MiB"] if report["worker_rss_mib"] else []
    if report["service_rss_mib"]:
        rss.append(f"inference service {report['service_rss_mib']:.0f} MiB")
    if rss:
        print("resident memory: " + ", ".join(rss))
    for lv in report["levels"]:
        if "heard_p50_vs_local" in lv:
            print(
                f"{lv['callers']} callers: heard p50 {lv['heard_p50_vs_local']:.2f}x local mode's"
            )
    after = report["insights_after_hangup_s"]
    if after["calls"]:
        print(
            f"summary and items stored after hang-up, {after['calls']} calls: p50 "
            f"{after['p50']:.1f} s, p95 {after['p95']:.1f} s, max {after['max']:.1f} s"
        )
    if report["knee"] is not None:
        print(f"knee: {report['knee']} callers (heard p95 over 1.5x the single call's)")


if __name__ == "__main__":
    main()
