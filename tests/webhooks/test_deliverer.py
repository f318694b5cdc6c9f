"""Delivery: signed, retried with the same id, never lost, never in a call's way."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from ceoline.config import parse_config_file
from ceoline.store import Store, TurnRecord
from ceoline.webhooks import events
from ceoline.webhooks.deliverer import Deliverer, backoff_s

from ..conftest import ROOT, make_config
from .conftest import Receiver


def config_for(tmp_path, url: str, **hook):
    table = {"name": "tracker", "url": url, "secret_file": str(tmp_path / "tracker.key"),
             "events": ["item.created", "call.summarised"], "timeout_s": 1.0, **hook}  # fmt: skip
    return parse_config_file(make_config(tmp_path, webhooks=[table]))


def a_summarised_call(config, store: Store) -> str:
    call_id = store.create_call("simulated", "t.wav", "Theo")
    store.add_turn(call_id, TurnRecord("caller", "I was charged twice, my number is 0701234567.",
                                       0, 2000, {}))  # fmt: skip
    store.end_call(call_id, "caller_hangup", 4.0)
    store.claim_insight_job()
    insights = {
        "summary": "The caller complained about payments (urgent).",
        "summary_method": "rules",
        "items": [{"type": "complaint", "product_area": "payments", "sentiment": "negative",
                   "urgency": "high", "quote": "I was charged twice, my number is 0701234567.",
                   "needs_followup": True, "method": "rules"}],
    }  # fmt: skip
    store.save_insights(call_id, insights, events.for_insights(config))
    return call_id


def test_events_are_signed_retried_with_the_same_id_and_accepted_once(tmp_path, receiver):
    config = config_for(tmp_path, receiver.url)
    store = Store.open(config.data_dir)
    a_summarised_call(config, store)
    receiver.answers = [500, 500]
    deliverer = Deliverer(config, store)
    assert deliverer.deliver_due() == (0, 2)  # both refused once
    assert deliverer.deliver_due() == (0, 0)  # backing off
    assert deliverer.deliver_due(ignore_clock=True) == (2, 0)
    assert receiver.rejected == 0 and len(receiver.received) == 4
    ids = [r["headers"]["webhook-id"] for r in receiver.received]
    assert ids[0:2] == ids[2:4] or sorted(ids[0:2]) == sorted(ids[2:4])
    assert len(receiver.accepted) == 2
    item = next(e for e in receiver.accepted.values() if e["type"] == "item.created")
    # Redacted text only, and the call's link.
    assert "[PHONE]" in item["data"]["item"]["quote"] and "0701234567" not in str(item)
    assert item["data"]["link"].endswith(item["data"]["call_id"])
    store.close()


def test_a_hanging_receiver_is_cut_by_the_timeout(tmp_path, receiver):
    config = config_for(tmp_path, receiver.url, timeout_s=0.5)
    store = Store.open(config.data_dir)
    a_summarised_call(config, store)
    receiver.delay_s = 3.0
    started = time.perf_counter()
    assert Deliverer(config, store).deliver_due() == (0, 2)
    assert time.perf_counter() - started < 2.5
    store.close()


def test_after_24_hours_a_delivery_is_dead_audited_and_can_be_retried(tmp_path):
    config = config_for(tmp_path, "http://127.0.0.1:9/closed")
    store = Store.open(config.data_dir)
    a_summarised_call(config, store)
    later = datetime.now(UTC) + timedelta(hours=25)
    assert Deliverer(config, store, now=lambda: later).deliver_due() == (0, 2)
    dead = store.deliveries(status="dead")
    assert len(dead) == 2 and all(d["last_error"] for d in dead)
    audit = list(store.db.query("SELECT action, detail FROM audit_log"))
    assert [a["action"] for a in audit] == ["webhook.dead", "webhook.dead"]
    assert all("charged" not in a["detail"] for a in audit)  # no payload in the audit log
    assert store.retry_delivery(dead[0]["id"]) and len(store.deliveries(status="pending")) == 1
    store.close()


def test_a_receiver_down_for_a_while_gets_everything_afterwards(tmp_path, secret):
    down = Receiver(secret)
    url = down.url
    down.close()  # nothing listens there now
    config = config_for(tmp_path, url)
    store = Store.open(config.data_dir)
    a_summarised_call(config, store)
    deliverer = Deliverer(config, store)
    assert deliverer.deliver_due() == (0, 2)
    port = int(url.split(":")[2].split("/")[0])
    up = Receiver(secret)
    up.close()
    from http.server import ThreadingHTTPServer

    up.server = ThreadingHTTPServer(("127.0.0.1", port), up.server.RequestHandlerClass)
    import threading

    threading.Thread(target=up.server.serve_forever, daemon=True).start()
    try:
        assert deliverer.deliver_due(ignore_clock=True) == (2, 0)
        assert len(up.accepted) == 2
    finally:
        up.close()
        store.close()


def test_a_deliverer_killed_mid_send_loses_nothing(tmp_path, receiver):
    config = config_for(tmp_path, receiver.url)
    store = Store.open(config.data_dir)
    for _ in range(3):
        a_summarised_call(config, store)
    store.close()
    receiver.delay_s = 1.0
    script = (
        "import sys, time; from ceoline.config import parse_config_file; "
        "from ceoline.store import Store; from ceoline.webhooks.deliverer import Deliverer; "
        "c = parse_config_file(sys.argv[1]); s = Store.open(c.data_dir); d = Deliverer(c, s); "
        "d.start(); time.sleep(60)"
    )
    config_file = tmp_path / "ceoline.toml"
    worker = subprocess.Popen([sys.executable, "-c", script, str(config_file)], cwd=ROOT)
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()  # SIGKILL, in the middle of a send
    worker.wait()
    receiver.delay_s = 0.0
    store = Store.open(config.data_dir)
    Deliverer(config, store).deliver_due(ignore_clock=True)
    assert len(receiver.accepted) == 6  # 3 items and 3 summaries, each at least once
    assert not store.deliveries(status="pending")
    store.close()


def test_backoff_doubles_with_jitter_and_is_capped():
    assert backoff_s(1, lambda: 0.5) == 5.0
    assert backoff_s(3, lambda: 0.5) == 20.0
    assert backoff_s(30, lambda: 0.5) == 3600.0
    assert 2.5 <= backoff_s(1) <= 7.5


def test_an_overdue_item_is_announced_once(tmp_path, receiver):
    config = config_for(tmp_path, receiver.url, events=["item.overdue"])
    store = Store.open(config.data_dir)
    a_summarised_call(config, store)
    assert not store.deliveries()  # item.created is not among this destination's events
    tomorrow = datetime.now(UTC) + timedelta(hours=25)
    deliverer = Deliverer(config, store, now=lambda: tomorrow)
    assert deliverer.scan() == 1 and deliverer.scan() == 0
    assert Deliverer(config, store).deliver_due(ignore_clock=True) == (1, 0)
    (event,) = receiver.accepted.values()
    assert event["type"] == "item.overdue" and event["data"]["item"]["urgency"] == "high"
    store.close()


def test_a_change_of_destinations_is_audited_without_secrets(tmp_path, receiver, secret):
    config = config_for(tmp_path, receiver.url)
    store = Store.open(config.data_dir)
    assert Deliverer(config, store).record_destinations()
    assert not Deliverer(config, store).record_destinations()  # unchanged
    changed = config_for(tmp_path, receiver.url, min_urgency="high")
    assert Deliverer(changed, store).record_destinations()
    audit = list(
        store.db.query("SELECT detail FROM audit_log WHERE action = 'webhooks.destinations'")
    )
    assert len(audit) == 2 and "min_urgency=high" in audit[1]["detail"]
    assert secret.removeprefix("whsec_") not in str(audit)
    store.close()


def test_chat_and_gitlab_destinations_get_their_own_formats(tmp_path):
    chat, gitlab = Receiver(None), Receiver(None)
    (tmp_path / "gitlab.token").write_text("glpat-secret\n")
    hooks = [
        {"name": "chat", "url": chat.url, "format": "chat", "events": ["call.summarised"]},
        {"name": "gitlab", "url": gitlab.url, "format": "gitlab", "events": ["item.created"],
         "min_urgency": "high", "token_file": str(tmp_path / "gitlab.token")},
    ]  # fmt: skip
    config = parse_config_file(make_config(tmp_path, webhooks=hooks))
    store = Store.open(config.data_dir)
    try:
        a_summarised_call(config, store)
        assert Deliverer(config, store).deliver_due() == (2, 0)
        (message,) = chat.accepted.values()
        assert set(message) == {"text"} and "1 urgent" in message["text"]
        (issue,) = gitlab.accepted.values()
        assert issue["title"].startswith("[high] complaint") and "[PHONE]" in issue["description"]
        assert gitlab.received[0]["headers"]["private-token"] == "glpat-secret"
        assert "webhook-signature" not in chat.received[0]["headers"]
    finally:
        chat.close()
        gitlab.close()
        store.close()
