"""Retention and erasure: deleted calls take everything derived from them, their text is gone
from the database file and its WAL, and each deletion leaves one audit row without text."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from ceoline import retention
from ceoline.cli import app
from ceoline.errors import StoreError
from ceoline.store import Store, TurnRecord
from ceoline.web.queries import CallFilters, list_calls

from .conftest import make_config

CANARY = "CANARY quokka lighthouse marmalade"
WORDS = ("canary", "quokka", "marmalade")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "data")
    yield s
    s.close()


def a_call(store: Store, text: str, *, days_ago: float = 0, caller: str = "sip:1001@pbx") -> str:
    """A call with the text in every place a call's words are kept."""
    call_id = store.create_call("sip", caller.split(":", 1)[1], "Theo", caller_uri=caller)
    store.mark_answered(call_id, "PCMU/8000")
    store.add_turn(call_id, TurnRecord("caller", f"I want to say {text} about exports", 0, 900, {}))
    store.add_turn(call_id, TurnRecord("bot", f"Thanks, {text} noted.", 1000, 2000, {}))
    store.add_event(call_id, "dtmf", f"digit=0 said {text}", 1500)
    escalation = store.add_escalation(call_id, 1600, "caller_request", "requested")
    store.update_escalation(escalation, "callback", f"asked about {text}")
    store.add_callback_request(call_id, f"please call back about {text}")
    store.end_call(call_id, "caller_hangup", 12.0)
    store.save_insights(
        call_id,
        {
            "summary": f"The caller said {text}.",
            "summary_method": "rules",
            "items": [
                {
                    "type": "feedback",
                    "product_area": "exports",
                    "sentiment": "neutral",
                    "urgency": "low",
                    "quote": f"I want to say {text}",
                    "needs_followup": False,
                    "method": "rules",
                }
            ],
        },
    )
    with store.writing() as db:
        item = db.execute("SELECT id FROM feedback_items WHERE call_id = ?", [call_id]).fetchone()
        db.execute(
            "INSERT INTO item_notes (item_id, author, note, created_at) VALUES (?, 'rita', ?, '')",
            [item[0], f"follow up on {text}"],
        )
        started = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="milliseconds")
        db.execute("UPDATE calls SET started_at = ? WHERE id = ?", [started, call_id])
    return call_id


def found_in_files(data_dir, word: str) -> int:
    """``grep -ci WORD data/ceoline.db*``, summed over the database, its WAL and SHM."""
    files = sorted(str(p) for p in data_dir.glob("ceoline.db*"))
    run = subprocess.run(["grep", "-ci", "-a", word, *files], capture_output=True, text=True)
    return sum(int(line.rsplit(":", 1)[-1]) for line in run.stdout.splitlines() if line)


def searched(store: Store, word: str) -> list[str]:
    return [c["id"] for c in list_calls(store, CallFilters(q=word))]


def test_a_call_past_retention_is_purged_and_its_text_is_gone_from_the_files(store, tmp_path):
    old = a_call(store, CANARY, days_ago=120)
    recent = a_call(store, "the invoice screen is slow", days_ago=5)
    data_dir = tmp_path / "data"
    # The check can fail: before the purge the canary is in the files and in the index.
    assert found_in_files(data_dir, "quokka") > 0
    assert searched(store, "quokka") == [old]

    done = retention.purge(store, 90, "test")

    assert done.call_ids == (old,) and done.wal_truncated
    assert done.rows == {
        "item_notes": 1,
        "feedback_items": 1,
        "call_insights": 1,
        "insight_jobs": 1,
        "escalations": 1,
        "callback_requests": 1,
        "call_events": 1,
        "turns": 2,
        "calls": 1,
    }
    assert store.get_call(old) is None and store.get_call(recent) is not None
    assert searched(store, "quokka") == [] and searched(store, "invoice") == [recent]
    for word in WORDS:
        assert found_in_files(data_dir, word) == 0, word
    assert (data_dir / "ceoline.db-wal").stat().st_size == 0
    with store.reading() as db:
        rows = db.execute("SELECT user_name, action, target, detail FROM audit_log").fetchall()
    assert len(rows) == 1
    user, action, target, detail = rows[0]
    assert (user, action, target) == ("test", "purge", "1 calls")
    assert json.loads(detail)["call_ids"] == [old] and json.loads(detail)["rows"]["turns"] == 2
    assert not any(word in detail.lower() for word in WORDS)


def test_a_dry_run_counts_and_deletes_nothing(store):
    old = a_call(store, CANARY, days_ago=120)
    done = retention.purge(store, 90, "test", dry_run=True)
    assert done.call_ids == (old,) and done.rows["turns"] == 2
    assert store.get_call(old) is not None
    assert store.db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


def test_a_purge_with_nothing_to_delete_is_still_audited(store):
    a_call(store, "recent words", days_ago=1)
    done = retention.purge(store, 90, "retention (serve)")
    assert done.calls == 0
    assert store.db.execute("SELECT action, target FROM audit_log").fetchall() == [
        ("purge", "0 calls")
    ]


def test_a_live_call_is_never_purged_and_a_crashed_one_ages_out(store):
    live = store.create_call("sip", "1001@pbx", "Theo")
    crashed = store.create_call("sip", "1002@pbx", "Theo")
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat(timespec="milliseconds")
    with store.writing() as db:
        db.execute("UPDATE calls SET started_at = ?", [old])
        db.execute("UPDATE calls SET owner = NULL WHERE id = ?", [crashed])
    assert retention.purge(store, 90, "test").call_ids == (crashed,)
    assert store.get_call(live) is not None


def test_erasing_calls_is_all_or_nothing(store, tmp_path):
    first = a_call(store, CANARY)
    second = a_call(store, "second call words")
    with pytest.raises(StoreError, match="no call nope"):
        retention.erase_calls(store, [first, "nope"], "test")
    assert store.get_call(first) is not None
    live = store.create_call("sip", "1009@pbx", "Theo")
    with pytest.raises(StoreError, match="in progress"):
        retention.erase_calls(store, [live], "test")

    done = retention.erase_calls(store, [first], "dpo@example")
    assert done.call_ids == (first,)
    assert store.get_call(first) is None and store.get_call(second) is not None
    assert found_in_files(tmp_path / "data", "quokka") == 0
    rows = store.db.execute("SELECT user_name, action, detail FROM audit_log").fetchall()
    assert [(u, a) for u, a, _ in rows] == [("dpo@example", "erase")]


def test_erasing_a_caller_matches_every_way_the_address_is_written(store):
    mine = [
        a_call(store, "one", caller="sip:+46701234567@trunk.example"),
        a_call(store, "two", caller='"Ann" <sip:+46701234567@trunk.example;transport=udp>'),
    ]
    other = a_call(store, "three", caller="sip:+15550001111@trunk.example")
    assert retention.calls_of_caller(store, "+46701234567@trunk.example") == sorted(mine)
    done = retention.erase_caller(store, "<sip:+46701234567@trunk.example>", "test")
    assert sorted(done.call_ids) == sorted(mine)
    assert store.get_call(other) is not None
    # The audit row names how many calls, never the caller.
    target, detail = store.db.execute("SELECT target, detail FROM audit_log").fetchone()
    assert "46701234567" not in target + detail


def test_daily_purge_runs_at_start_and_waits_while_calls_are_live(store):
    old = a_call(store, CANARY, days_ago=120)
    events = []
    busy = [True]
    daily = retention.DailyPurge(
        store, 90, busy=lambda: busy[0], log_event=lambda name, **_: events.append(name)
    )
    daily.RETRY_S = 0.05
    daily.start()
    try:
        import time

        time.sleep(0.3)
        assert daily.runs == 0 and store.get_call(old) is not None
        busy[0] = False
        deadline = time.monotonic() + 5
        while daily.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        daily.stop()
    assert daily.runs == 1 and store.get_call(old) is None
    assert events == ["retention.purged"]


def test_cli_purge_and_calls_delete(tmp_path):
    config = make_config(tmp_path)
    store = Store.open(tmp_path / "data")
    old = a_call(store, CANARY, days_ago=120)
    kept = a_call(store, "kept words", days_ago=10)
    store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["purge", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["call_ids"] == [old]

    result = runner.invoke(app, ["calls", "delete", "--config", str(config)])
    assert result.exit_code != 0 and "CALL_ID" in str(result.exception)
    result = runner.invoke(app, ["calls", "delete", "nope", "--config", str(config)])
    assert result.exit_code != 0 and "no call nope" in str(result.exception)
    result = runner.invoke(app, ["calls", "delete", kept, "--by", "dpo", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("erase: deleted 1 calls (2 turns")
    store = Store.open(tmp_path / "data")
    try:
        assert store.list_calls() == []
        actors = store.db.execute("SELECT user_name FROM audit_log ORDER BY id").fetchall()
        assert actors[-1] == ("dpo (cli)",)
    finally:
        store.close()
