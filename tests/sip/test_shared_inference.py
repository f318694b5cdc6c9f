"""A call whose reply model is the shared inference service, and that service killed mid-call:
the call goes on, nothing breaks on the line, and the model answers again after the restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from ..sip_support import CEOLINE, ROOT, free_port, start_server

pytestmark = pytest.mark.models


def _espeak_wav(path, text: str):
    from ceoline.voice import espeak
    from ceoline.voice.audio import write_wav

    write_wav(path, espeak.speak(text))
    return path


def _service_pid(server) -> int:
    found = re.findall(r"event=inference\.(?:up|restarted) pid=(\d+)", server.log())
    assert found, server.log()[-2000:]
    return int(found[-1])


def test_a_call_outlives_its_inference_service(tmp_path):
    port = free_port()
    server = start_server(
        tmp_path, ready_timeout=240, inference={"mode": "shared", "port": port, "parallel": 2}
    )
    try:
        first_service = _service_pid(server)
        prompts = [
            _espeak_wav(tmp_path / f"p{i}.wav", text)
            for i, text in enumerate(
                [
                    "I would like the app to show my payment history.",
                    "The invoice screen is slow when I have many clients.",
                    "Please add a dark mode to the mobile app.",
                ]
            )
        ]
        args = [a for p in prompts for a in ("--play", str(p))]
        caller = subprocess.Popen(
            [*CEOLINE, "dial", server.uri, "--json", *args, "--hold", "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        server.wait_for_calls(1, timeout=30, ended=False)
        # Killed as the greeting plays, and again at each restart: the service backs off 1, 2,
        # 4, 8 s, so it is down through the greeting and the caller's first turn.
        killed = {first_service}
        os.kill(first_service, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(killed) < 4 and time.monotonic() < deadline:
            pid = _service_pid(server)
            if pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        _, stderr = caller.communicate(timeout=180)
        assert caller.returncode == 0, stderr
        (call,) = server.wait_for_calls(1, timeout=30)
        log = server.log()
        assert "event=inference.died" in log and "event=inference.restarted" in log, log[-3000:]
        assert _service_pid(server) not in killed
        assert call["end_reason"] == "caller_hangup", call["end_reason"]
        assert "Traceback" not in log, log[-3000:]
        callers = [t for t in call["turns"] if t["role"] == "caller"]
        bots = [t for t in call["turns"] if t["role"] == "bot"]
        assert len(callers) >= 3, callers
        # Every caller turn is answered: the first while the service is down (without the
        # model), the last by the model again once the service is back.
        for turn in callers:
            assert any(b["start_ms"] > turn["start_ms"] and b["text"] for b in bots), turn
        first_reply = next(b for b in bots if b["start_ms"] > callers[0]["start_ms"])
        assert callers[0]["timings"].get("model_unavailable"), callers[0]
        assert "lost my train of thought" not in first_reply["text"], first_reply
        assert callers[0]["timings"].get("reply_tokens", 0) == 0, callers[0]
        assert callers[-1]["timings"].get("reply_tokens", 0) > 0, callers[-1]
        assert "event=inference.unreachable" in log and "event=inference.back" in log
    finally:
        server.stop()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _service_on(port):
            time.sleep(0.2)
        assert not _service_on(port), "the service outlived ceoline serve"


def _service_on(port: int) -> bool:
    found = subprocess.run(
        ["pgrep", "-f", f"llama-server .*--port {port} "], capture_output=True, text=True
    )
    return bool(found.stdout.strip())
