"""`ceoline webhooks list | deliver | retry | test` against a real receiver."""

import json
import subprocess
import sys

from ..conftest import ROOT, make_config


def ceoline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ceoline", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=60,
    )  # fmt: skip


def test_test_list_deliver_and_retry(tmp_path, receiver):
    hook = {"name": "tracker", "url": receiver.url, "secret_file": str(tmp_path / "tracker.key"),
            "events": ["item.created"]}  # fmt: skip
    config = str(make_config(tmp_path, webhooks=[hook]))
    done = ceoline("webhooks", "test", "tracker", "--config", config)
    assert done.returncode == 0, done.stderr
    assert "accepted (HTTP 204)" in done.stdout and receiver.rejected == 0
    receiver.answers = [503]
    failed = ceoline("webhooks", "test", "tracker", "--config", config)
    assert failed.returncode == 1 and "not accepted (HTTP 503)" in failed.stderr
    rows = json.loads(ceoline("webhooks", "list", "--json", "--config", config).stdout)
    pending = [r for r in rows if r["status"] == "pending"]
    assert len(rows) == 2 and len(pending) == 1
    again = ceoline("webhooks", "deliver", "--all", "--config", config)
    assert again.returncode == 0 and "1 delivered" in again.stdout
    missing = ceoline("webhooks", "retry", "999", "--config", config)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    unknown = ceoline("webhooks", "test", "nope", "--config", config)
    assert unknown.returncode == 1 and "tracker" in unknown.stderr


def test_ceoline_call_delivers_its_items_before_it_exits(tmp_path, receiver):
    hook = {"name": "tracker", "url": receiver.url, "secret_file": str(tmp_path / "tracker.key"),
            "events": ["item.created", "call.summarised"]}  # fmt: skip
    config = str(make_config(tmp_path, webhooks=[hook], insights={"use_model": False}))
    done = ceoline("call", str(ROOT / "tests/data/question-mission.wav"), "--json",
                   "--config", config)  # fmt: skip
    assert done.returncode == 0, done.stderr
    call_id = json.loads(done.stdout)["call_id"]
    kinds = sorted(e["type"] for e in receiver.accepted.values())
    assert kinds[-1] == "item.created" and "call.summarised" in kinds
    assert all(e["data"]["call_id"] == call_id for e in receiver.accepted.values())
    assert receiver.rejected == 0
