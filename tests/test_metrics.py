"""Metrics move with what the store commits, and parse as Prometheus text."""

from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ceoline.metrics import Metrics
from ceoline.store import Store, TurnRecord

from .sip_support import free_port


@pytest.fixture
def metrics(tmp_path):
    store = Store.open(tmp_path)
    metrics = Metrics(store)
    metrics.watch(lambda: 2, lambda: {"503": 3, "outside_allow": 1})
    yield metrics
    metrics.close()
    store.close()


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_commits_move_counters_and_histograms_once_per_stage(metrics):
    store = metrics.store
    call_id = store.create_call("sip", "1001@pbx", "Theo")
    seq = store.add_turn(call_id, TurnRecord("caller", "hello", 0, 900, {"endpoint": 340.0}))
    store.update_turn_timings(call_id, seq, {"endpoint": 340.0, "stt": 20.0, "response": 420.0})
    store.update_turn_timings(call_id, seq, {"endpoint": 340.0, "stt": 20.0, "response": 420.0})
    store.add_turn(call_id, TurnRecord("bot", "hi", 1000, 2000, {"audio": 900.0}))
    store.add_event(call_id, "barge_in", json.dumps({"committed": True}), 1500)
    store.add_event(call_id, "barge_in", json.dumps({"committed": False}), 1700)
    store.add_event(call_id, "guardrail_caller", "payments", 1800)
    escalation = store.add_escalation(call_id, 1900, "caller_request", "transferring")
    store.update_escalation(escalation, "transferred")
    store.end_call(call_id, "transferred", 3.0)

    got = samples(metrics)
    count = "ceoline_turn_stage_seconds_count"
    assert got[(count, (("stage", "endpoint"),))] == 1
    assert got[(count, (("stage", "response"),))] == 1
    assert got[(count, (("stage", "llm_first_token"),))] == 0
    assert got[("ceoline_turn_stage_seconds_sum", (("stage", "response"),))] == pytest.approx(0.42)
    assert got[("ceoline_calls_total", (("end_reason", "transferred"), ("line", "main")))] == 1
    assert got[("ceoline_barge_ins_total", (("outcome", "stopped"),))] == 1
    assert got[("ceoline_barge_ins_total", (("outcome", "resumed"),))] == 1
    hit = ("ceoline_guardrail_hits_total", (("category", "payments"), ("side", "caller")))
    assert got[hit] == 1
    assert got[("ceoline_escalations_total", (("outcome", "transferred"),))] == 1
    assert got[("ceoline_active_calls", ())] == 2
    assert got[("ceoline_sip_refused_total", (("status", "503"),))] == 3
    assert got[("ceoline_insights_queue_depth", ())] == 1
    assert got[("ceoline_insights_oldest_job_age_seconds", ())] >= 0
    # No label value names a call or a caller.
    labels = {v for (_, pairs) in got for _, v in pairs}
    assert call_id not in labels and "1001@pbx" not in labels


def test_crashed_calls_are_counted_and_a_broken_observer_never_fails_a_write(metrics):
    store = metrics.store
    call_id = store.create_call("sip", "1001@pbx", "Theo")
    with store.writing() as db:
        db.execute("UPDATE calls SET owner = NULL WHERE id = ?", [call_id])
    store.close_crashed_calls()
    crashed = ("ceoline_calls_total", (("end_reason", "crashed"), ("line", "main")))
    assert samples(metrics)[crashed] == 1

    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("observer down")

    store.observer = Broken()
    other = store.create_call("sip", "1002@pbx", "Theo")
    store.add_turn(other, TurnRecord("caller", "still stored", 0, 1, {}))
    assert [t["text"] for t in store.get_call(other)["turns"]] == ["still stored"]


def test_served_over_http_on_loopback(metrics):
    port = free_port()
    assert metrics.serve("127.0.0.1", port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"ceoline_active_calls", "ceoline_calls", "ceoline_turn_stage_seconds"} <= names
    # A taken port costs the metrics, not the process.
    assert not Metrics(metrics.store).serve("127.0.0.1", port)


def test_a_worker_on_the_shared_service_shows_whether_it_answers(tmp_path):
    store = Store.open(tmp_path)
    metrics = Metrics(store)
    up = {"now": True}
    metrics.watch(lambda: 0, dict, lambda: up["now"])
    try:
        assert samples(metrics)[("ceoline_inference_up", ())] == 1
        up["now"] = False
        assert samples(metrics)[("ceoline_inference_up", ())] == 0
    finally:
        metrics.close()
        store.close()


def test_a_local_model_exports_no_service_gauge(metrics):
    assert not any(name == "ceoline_inference_up" for name, _ in samples(metrics))
