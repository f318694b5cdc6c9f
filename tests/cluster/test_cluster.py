"""N workers behind a real Kamailio, called by real SIPp, on loopback.

One cluster (2 workers × 3 calls) serves the cases in order: capacity, a flood from outside
the allowlist, a worker SIGKILLed with live calls, and last the SIGTERM drain.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ceoline.cli import app
from ceoline.cluster.kamailio import (
    FIRST_REPLY_MS,
    check_config,
    dispatcher_entries,
    dispatcher_list,
)
from ceoline.config import load_config
from ceoline.errors import ConfigError

from ..conftest import make_config
from ..sip_support import (
    LOOPBACK,
    ServerProcess,
    calls_with_prefix,
    finish_sipp,
    run_sipp,
    sip_request,
    start_server,
    start_sipp,
)

pytestmark = pytest.mark.models

WORKERS, PER_WORKER = 2, 3
PROBE_S = 1
# A refused call is answered at once, not left to time out.
BUSY_BOUND_S = 2.0


def test_the_proxy_config_is_written_from_ours_and_kamailio_accepts_it(tmp_path):
    config = load_config(
        make_config(tmp_path, sip={"max_calls": 3, "port": 25060}, cluster={"workers": 3})
    )
    listed = dispatcher_list(config).splitlines()[1:]
    assert listed == [
        f"1 sip:127.0.0.1:{5070 + i} 0 0 duid=worker-{i};maxload=3;socket=udp:127.0.0.1:5069"
        for i in range(3)
    ]
    ok, detail = check_config(config)
    assert ok, detail
    result = CliRunner().invoke(app, ["cluster", "config", "--config", str(config.source)])
    assert result.exit_code == 0
    for needle in ('ds_select_dst("1", "10")', "record_route()", "sanity_check", "pike_check_req"):
        assert needle in result.output, needle


def test_a_cluster_config_that_cannot_work_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="worker_port"):
        load_config(make_config(tmp_path, sip={"port": 5071}, cluster={"workers": 2}))
    with pytest.raises(ConfigError, match="registration"):
        load_config(
            make_config(
                tmp_path,
                sip={"registration": {"registrar": "sip:10.0.0.1", "user": "h"}},
                cluster={"workers": 2},
            )
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    srv = start_server(
        base,
        ready_timeout=300,
        sip={"max_calls": PER_WORKER, "allow": ["127.0.0.1/32"]},
        # A caller SIPp was killed under ends this soon (silence), and frees its line.
        call={"silence_timeout_s": 25},
        cluster={"workers": WORKERS, "probe_interval_s": PROBE_S, "restart_backoff_max_s": 2},
    )
    yield srv
    if srv.proc.poll() is None:
        srv.stop(timeout=60)


def wait_answered(srv: ServerProcess, prefix: str, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while True:
        stored = calls_with_prefix(srv, prefix, count, timeout=0, ended=False)
        answered = [c for c in stored if c["answered_at"]]
        if len(answered) >= count or time.monotonic() > deadline:
            return answered
        time.sleep(0.2)


def cluster_status(srv: ServerProcess) -> dict[str, str]:
    config = load_config(srv.config_path)
    return {e.uri: e.state for e in dispatcher_entries(config)}


def test_six_calls_are_answered_and_the_seventh_is_refused_at_once(cluster, tmp_path):
    held = start_sipp(
        "call_hold",
        tmp_path,
        "held",
        cluster.target,
        calls=WORKERS * PER_WORKER,
        limit=WORKERS * PER_WORKER,
        timeout_s=60,
        extra=("-d", "10000", "-r", "10"),
    )
    answered = wait_answered(cluster, held[1], WORKERS * PER_WORKER)
    busy = run_sipp("busy", tmp_path, "busy", cluster.target, timeout_s=20)
    first = finish_sipp(held, tmp_path, "held")
    assert len(answered) == WORKERS * PER_WORKER, cluster.log()[-3000:]
    assert busy.returncode == 0 and busy.elapsed_s < BUSY_BOUND_S, busy.report()
    assert "Retry-After: 30" in busy.messages
    assert first.returncode == 0, first.report()
    stored = calls_with_prefix(cluster, held[1], WORKERS * PER_WORKER)
    assert sorted(c["worker"] for c in stored) == ["worker-0"] * 3 + ["worker-1"] * 3
    for name, pid in worker_pids(cluster).items():
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        print(f"\n{name}: resident {int(rss) / 1024:.0f} MiB after 3 calls")
    assert {c["end_reason"] for c in stored} == {"caller_hangup"}


def test_a_flood_from_outside_the_allowlist_learns_nothing(cluster):
    outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outsider.bind(("127.0.0.2", 0))
    outsider.settimeout(0.05)
    port = outsider.getsockname()[1]
    replies = []
    try:
        for n in range(300):
            method = ("OPTIONS", "INVITE", "REGISTER")[n % 3]
            request = sip_request(method, cluster, port).replace(
                f"{LOOPBACK}:{port}".encode(), f"127.0.0.2:{port}".encode()
            )
            outsider.sendto(request, (LOOPBACK, cluster.port))
            with contextlib.suppress(TimeoutError):
                replies.append(outsider.recv(65535))
    finally:
        outsider.close()
    assert replies == []
    # The trunk is never banned: its next call is answered as usual.
    call = run_sipp(
        "call_hold", cluster.data_dir, "after-flood", cluster.target, extra=("-d", "500")
    )
    assert call.returncode == 0, call.report()
    assert [c["end_reason"] for c in calls_with_prefix(cluster, call.call_id_prefix, 1)] == [
        "caller_hangup"
    ]
    status = CliRunner().invoke(
        app, ["cluster", "status", "--json", "--config", str(cluster.config_path)]
    )
    assert status.exit_code == 0, status.output
    rows = json.loads(status.output)
    assert [(r["worker"], r["state"], r["live_calls"]) for r in rows] == [
        ("worker-0", "up", 0),
        ("worker-1", "up", 0),
    ]


def worker_pids(srv: ServerProcess) -> dict[str, int]:
    pids = {}
    for line in srv.log().splitlines():
        if "event=worker.started" in line:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            pids[fields["worker"]] = int(fields["pid"])
    return pids


def test_a_killed_worker_is_skipped_restarted_and_takes_calls_again(cluster, tmp_path):
    held = start_sipp(
        "call_hold",
        tmp_path,
        "doomed",
        cluster.target,
        calls=2,
        limit=2,
        timeout_s=40,
        extra=("-d", "15000", "-r", "10"),
    )
    answered = wait_answered(cluster, held[1], 2)
    assert len(answered) == 2
    victim = answered[0]["worker"]
    os.kill(worker_pids(cluster)[victim], signal.SIGKILL)
    killed_at = time.monotonic()
    held[0].kill()
    finish_sipp(held, tmp_path, "doomed")

    # Within a probe (and its 2 s answer timeout) new calls go to the other worker only.
    time.sleep(PROBE_S + FIRST_REPLY_MS / 1000 + 1)
    calls = run_sipp(
        "call_hold",
        tmp_path,
        "rerouted",
        cluster.target,
        calls=2,
        limit=1,
        timeout_s=30,
        extra=("-d", "300"),
    )
    assert calls.returncode == 0, calls.report()
    rerouted = calls_with_prefix(cluster, calls.call_id_prefix, 2)
    assert {c["worker"] for c in rerouted} == {w for w in ("worker-0", "worker-1") if w != victim}

    # The supervisor restarts it; its start closes the dead process' calls as crashed.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        restarted = cluster.log().count(f"event=worker.started worker={victim}") >= 2
        if restarted and set(cluster_status(cluster).values()) == {"up"}:
            stored = calls_with_prefix(cluster, held[1], 2, timeout=0, ended=False)
            if all(c["end_reason"] for c in stored):
                break
        time.sleep(1)
    print(f"\n{victim} back after {time.monotonic() - killed_at:.1f} s")
    victims = [c for c in calls_with_prefix(cluster, held[1], 2) if c["worker"] == victim]
    assert victims and {c["end_reason"] for c in victims} == {"crashed"}, victims
    assert "event=worker.died" in cluster.log()
    assert set(cluster_status(cluster).values()) == {"up"}
    again = run_sipp(
        "call_hold",
        tmp_path,
        "again",
        cluster.target,
        calls=4,
        limit=4,
        timeout_s=30,
        extra=("-d", "2000", "-r", "10"),
    )
    assert again.returncode == 0, again.report()
    workers_used = {c["worker"] for c in calls_with_prefix(cluster, again.call_id_prefix, 4)}
    assert victim in workers_used


def test_sigterm_drains_goodbyes_then_refusals_then_everything_stored(cluster, tmp_path):
    held = start_sipp(
        "call_hold",
        tmp_path,
        "draining",
        cluster.target,
        calls=2,
        limit=2,
        timeout_s=60,
        extra=("-d", "40000", "-r", "10"),
    )
    assert len(wait_answered(cluster, held[1], 2)) == 2
    time.sleep(6)  # past the greeting
    cluster.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    refused = run_sipp("busy_via_proxy", tmp_path, "during-drain", cluster.target, timeout_s=15)
    code = cluster.proc.wait(timeout=90)
    held[0].wait(timeout=60)
    finish_sipp(held, tmp_path, "draining")
    assert code == 0, cluster.log()[-3000:]
    assert refused.returncode == 0 and "SIP/2.0 503" in refused.messages, refused.report()
    stored = calls_with_prefix(cluster, held[1], 2)
    assert [c["end_reason"] for c in stored] == ["shutdown", "shutdown"], stored
    for call in stored:
        bot = [t["text"] for t in call["turns"] if t["role"] == "bot"]
        assert any("the hotline has to close" in text for text in bot), bot
    # No worker and no Kamailio outlives the supervisor.
    assert subprocess.run(["pgrep", "-f", str(cluster.config_path)]).returncode == 1
    assert subprocess.run(["pgrep", "-f", str(cluster.data_dir / "cluster")]).returncode == 1
