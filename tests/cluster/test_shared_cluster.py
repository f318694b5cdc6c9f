"""Two workers behind Kamailio that share one inference service, started by the supervisor."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from typer.testing import CliRunner

from ceoline.cli import app

from ..sip_support import CEOLINE, ROOT, free_port, start_server

pytestmark = pytest.mark.models


def test_workers_reply_through_the_one_service_the_supervisor_runs(tmp_path):
    from ceoline.voice import espeak
    from ceoline.voice.audio import write_wav

    port = free_port()
    srv = start_server(
        tmp_path,
        ready_timeout=300,
        cluster={"workers": 2, "probe_interval_s": 1},
        inference={"mode": "shared", "port": port, "parallel": 2},
    )
    try:
        log = srv.log()
        assert len(re.findall(r"event=inference\.up", log)) == 1, log
        # The workers load no reply model of their own: only the supervisor started one.
        assert "[worker-0]" in log and "inference.up" not in "".join(
            line for line in log.splitlines() if line.startswith("[worker-")
        )
        wav = tmp_path / "feedback.wav"
        write_wav(wav, espeak.speak("Please add a dark mode to the mobile app."))
        done = subprocess.run(
            [*CEOLINE, "dial", srv.uri, "--json", "--play", str(wav), "--hold", "4"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        (call,) = srv.wait_for_calls(1, timeout=30)
        caller = next(t for t in call["turns"] if t["role"] == "caller")
        assert caller["timings"].get("reply_tokens", 0) > 0, call["turns"]
        status = CliRunner().invoke(
            app, ["cluster", "status", "--json", "--config", str(srv.config_path)]
        )
        rows = {r["worker"]: r for r in json.loads(status.output)}
        assert rows["inference"]["state"] == "up" and rows["inference"]["slots"] == 2
        assert rows["inference"]["uri"] == f"127.0.0.1:{port}"
    finally:
        srv.stop(timeout=60)
    assert "event=inference.stopped" in srv.log()
