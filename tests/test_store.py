import sqlite3

import pytest

from ceoline.errors import StoreError
from ceoline.store import MIGRATIONS, Store, TurnRecord


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_migrations_are_recorded_once(tmp_path):
    Store.open(tmp_path).close()
    again = Store.open(tmp_path)
    assert again.applied_migrations() == [name for name, _ in MIGRATIONS]
    again.close()


def test_durability_pragmas(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_call_turns_and_end(store):
    call_id = store.create_call("simulated", "q.wav", "Theo")
    store.add_turn(call_id, TurnRecord("bot", "Hi, this is an AI.", 0, 2000, {"audio": 2000.0}))
    seq = store.add_turn(call_id, TurnRecord("caller", "Hello?", 2500, 3100, {"endpoint": 500.0}))
    store.update_turn_timings(call_id, seq, {"endpoint": 500.0, "response": 900.0})
    store.end_call(call_id, "caller_hangup", 5.0)
    call = store.get_call(call_id)
    assert call["end_reason"] == "caller_hangup" and call["duration_s"] == 5.0
    assert [t["role"] for t in call["turns"]] == ["bot", "caller"]
    assert call["turns"][1]["timings"] == {"endpoint": 500.0, "response": 900.0}
    assert store.list_calls()[0]["turns"] == 2


def test_a_turn_keeps_what_was_heard_and_what_it_was_understood_as(store):
    call_id = store.create_call("simulated", "q.wav", "Theo")
    heard, understood = "Why did you start Wilfern?", "Why did you start Quillfern?"
    store.add_turn(call_id, TurnRecord("caller", heard, 0, 900, {}, understood=understood))
    store.add_turn(call_id, TurnRecord("caller", "Thanks, bye.", 1000, 1500, {}))
    turns = store.get_call(call_id)["turns"]
    assert [(t["text"], t["understood"]) for t in turns] == [
        (heard, understood),
        ("Thanks, bye.", None),
    ]
    secret = TurnRecord("caller", "x", 2000, 2500, {}, understood="email me at a@b.example")
    store.add_turn(call_id, secret)
    assert "a@b.example" not in store.get_call(call_id)["turns"][-1]["understood"]


def test_caller_words_are_bound_not_interpolated(store):
    call_id = store.create_call("simulated", "x'); DROP TABLE calls;--", "Theo")
    store.add_turn(call_id, TurnRecord("caller", "Robert'); DROP TABLE turns;--", 0, 1, {}))
    assert store.get_call(call_id)["turns"][0]["text"].startswith("Robert')")


def test_failed_write_leaves_no_row(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.add_turn("no-such-call", TurnRecord("caller", "x", 0, 1, {}))
    assert store.db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0


def test_each_turn_is_committed_when_written(tmp_path):
    writer = Store.open(tmp_path)
    call_id = writer.create_call("simulated", "", "Theo")
    writer.add_turn(call_id, TurnRecord("caller", "first", 0, 1, {}))
    reader = sqlite3.connect(tmp_path / "ceoline.db")  # another connection sees it at once
    assert reader.execute("SELECT text FROM turns").fetchall() == [("first",)]
    reader.close()
    writer.close()


def test_data_dir_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="writable directory"):
        Store.open(blocker / "data")


def test_sip_call_fields_and_events(store):
    call_id = store.create_call(
        "sip", "1001@pbx", "Theo", sip_call_id="abc@host", caller_uri='"Ann" <sip:1001@pbx>'
    )
    store.mark_answered(call_id, "G722/16000")
    store.add_event(call_id, "dtmf", "5", 1200)
    store.end_call(call_id, "caller_hangup", 12.5)
    call = store.get_call(call_id)
    assert call["sip_call_id"] == "abc@host"
    assert call["caller_uri"] == '"Ann" <sip:1001@pbx>'
    assert call["codec"] == "G722/16000" and call["answered_at"]
    assert call["events"] == [
        {"t_ms": 1200, "kind": "dtmf", "detail": "5", "created_at": call["events"][0]["created_at"]}
    ]


def test_upgrade_from_the_first_schema_keeps_calls(tmp_path):
    import sqlite_utils

    from ceoline.store import _v1_calls_and_turns

    db = sqlite_utils.Database(tmp_path / "ceoline.db")
    _v1_calls_and_turns(db)
    db["migrations"].insert({"name": "0001_calls_and_turns", "applied_at": "2026-01-01"}, pk="name")
    db["calls"].insert({"id": "old", "source": "simulated", "started_at": "2026-01-01"})
    db.conn.close()
    store = Store.open(tmp_path)
    assert store.get_call("old")["codec"] is None
    assert store.get_call("old")["events"] == []
    store.close()


def test_personal_data_never_reaches_the_store(store):
    call_id = store.create_call("sip", "x", "Theo")
    store.add_turn(
        call_id,
        TurnRecord("caller", "my card is 4111 1111 1111 1111 and email ann@example.com", 0, 1, {}),
    )
    store.add_callback_request(call_id, "call me on +44 7700 900123")
    store.end_call(call_id, "caller_hangup", 1.0)
    store.save_insights(
        call_id,
        {
            "summary": "Caller gave card 4111 1111 1111 1111.",
            "summary_method": "rules",
            "items": [
                {
                    "type": "other",
                    "product_area": "payments",
                    "sentiment": "neutral",
                    "urgency": "low",
                    "quote": "my password is hunter two",
                    "needs_followup": False,
                    "method": "rules",
                }
            ],
        },
    )
    raw = "\n".join(store.db.conn.iterdump())
    for secret in ("4111 1111", "ann@example.com", "7700 900123", "hunter two"):
        assert secret not in raw
    call = store.get_call(call_id)
    assert "[CARD]" in call["turns"][0]["text"] and "[EMAIL]" in call["turns"][0]["text"]
    assert call["callback_requests"][0]["message"] == "call me on [PHONE]"
    assert "[PASSWORD]" in call["items"][0]["quote"]


# -- crash recovery ----------------------------------------------------------------------------


def _dead_owner() -> str:
    """The token of a process that has exited (and been reaped)."""
    import socket
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = f"{socket.gethostname()}:{proc.pid}:0"
    proc.wait()
    return token


def test_calls_left_open_by_a_dead_process_are_closed_as_crashed(store):
    from ceoline.store import CRASHED

    crashed = store.create_call("sip", "1001", "Theo")
    store.mark_answered(crashed, "PCMU/8000")
    store.add_turn(crashed, TurnRecord("caller", "the invoice screen is slow", 0, 900, {}))
    live = store.create_call("sip", "1002", "Theo")  # this process is alive: a live call
    legacy = store.create_call("sip", "1003", "Theo")
    elsewhere = store.create_call("sip", "1004", "Theo")
    clean = store.create_call("sip", "1005", "Theo")
    store.end_call(clean, "caller_hangup", 3.0)
    with store.writing() as db:
        db.execute("UPDATE calls SET owner = ? WHERE id = ?", [_dead_owner(), crashed])
        db.execute("UPDATE calls SET owner = NULL WHERE id = ?", [legacy])
        db.execute("UPDATE calls SET owner = 'box-b:1:1' WHERE id = ?", [elsewhere])
        last_turn = db.execute("SELECT created_at FROM turns WHERE call_id = ?", [crashed])
        last_turn = last_turn.fetchone()[0]

    assert sorted(store.close_crashed_calls()) == sorted([crashed, legacy])
    call = store.get_call(crashed)
    assert call["end_reason"] == CRASHED and call["ended_at"] == last_turn
    assert call["duration_s"] is not None and call["duration_s"] >= 0
    assert [t["text"] for t in call["turns"]] == ["the invoice screen is slow"]
    jobs = dict(store.db.execute("SELECT call_id, status FROM insight_jobs").fetchall())
    assert jobs[crashed] == "pending" and jobs[legacy] == "pending"
    assert store.get_call(live)["ended_at"] is None
    assert store.get_call(elsewhere)["ended_at"] is None
    assert store.get_call(clean)["end_reason"] == "caller_hangup"
    assert store.close_crashed_calls() == []  # nothing is closed twice


def test_calls_record_their_box_worker_and_process(tmp_path):
    import os
    import socket

    from ceoline.store import process_token

    store = Store.open(tmp_path, worker="worker-2")
    call = store.get_call(store.create_call("sip", "1001", "Theo"))
    assert call["box"] == socket.gethostname() and call["worker"] == "worker-2"
    assert call["owner"] == process_token(os.getpid())
    assert call["owner"].startswith(f"{socket.gethostname()}:{os.getpid()}:")
    store.close()
    named = Store.open(tmp_path, box="stockholm-1")
    assert named.get_call(named.create_call("sip", "1002", "Theo"))["box"] == "stockholm-1"
    named.close()


def test_calls_keep_their_line_and_are_listed_by_it(store):
    us = store.create_call("sip", "1001@pbx", "Theo", line="us")
    se = store.create_call("sip", "1002@pbx", "Theo", line="se")
    before = store.create_call("simulated", "", "Theo")  # a single-line box's call
    assert [c["id"] for c in store.list_calls(line="se")] == [se]
    assert {c["id"] for c in store.list_calls()} == {us, se, before}
    assert store.get_call(before)["line"] == "main"
    assert store.list_calls(line="uk") == []


def test_calls_keep_the_language_their_caller_spoke(store):
    swedish = store.create_call("sip", "1002@pbx", "Theo", line="se", language="sv")
    english = store.create_call("simulated", "", "Theo")
    assert store.get_call(swedish)["language"] == "sv"
    assert store.get_call(english)["language"] == "en"
