"""From hang-up to the dashboard: a real SIP call appears with its summary and items."""

from __future__ import annotations

import re
import subprocess
import time

import httpx
import pytest

from ..sip_support import CEOLINE, ROOT, dial, free_port, start_server

pytestmark = pytest.mark.models


def test_a_sip_call_reaches_the_dashboard_within_60_s_of_hang_up(tmp_path):
    web_port = free_port()
    server = start_server(tmp_path, dashboard={"enabled": True, "port": web_port})
    try:
        subprocess.run(
            [
                *CEOLINE,
                "users",
                "add",
                "rita",
                "--role",
                "reviewer",
                "--password-stdin",
                "--config",
                str(server.config_path),
            ],
            input="correct horse battery\n",
            text=True,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        done = dial(server, "--play", str(ROOT / "tests/data/question-mission.wav"))
        assert done.returncode == 0, done.stderr
        hung_up = time.monotonic()
        base = f"http://127.0.0.1:{web_port}"
        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as web:
            page = web.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            web.post(
                "/login",
                data={"name": "rita", "password": "correct horse battery", "csrf_token": token},
            )
            call_id = server.wait_for_calls(1)[0]["id"]
            while True:
                detail = web.get(f"/calls/{call_id}")
                assert detail.status_code == 200
                if (
                    "mission" in detail.text.lower()
                    and "Feedback items" in detail.text
                    and ("(rules)" in detail.text or "(llm)" in detail.text)
                ):
                    break
                assert time.monotonic() - hung_up < 60, "no insights on the dashboard after 60 s"
                time.sleep(1)
        print(f"on the dashboard {time.monotonic() - hung_up:.1f} s after hang-up")
    finally:
        server.stop()
