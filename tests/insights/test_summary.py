"""Call insights: rules, validation of model output, the job queue, and the real model."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ceoline.config import parse_config_file
from ceoline.errors import ConfigError
from ceoline.insights.summary import combine, load_taxonomy, rule_item
from ceoline.insights.worker import InsightsWorker
from ceoline.store import Store, TurnRecord

from ..conftest import ROOT, make_config

AREAS = load_taxonomy(ROOT / "configs" / "taxonomy.toml")


def a_call(store: Store, *caller_lines: str) -> str:
    call_id = store.create_call("simulated", "t.wav", "Theo")
    store.add_turn(call_id, TurnRecord("bot", "Hi, this is an AI version of Theo.", 0, 1000, {}))
    for i, line in enumerate(caller_lines):
        store.add_turn(call_id, TurnRecord("caller", line, 2000 + i * 4000, 4000 + i * 4000, {}))
        store.add_turn(call_id, TurnRecord("bot", "Thanks for telling me.", 4500, 6000, {}))
    store.end_call(call_id, "caller_hangup", 20.0)
    return call_id


@pytest.mark.parametrize(
    ("quote", "kind", "area", "sentiment"),
    [
        ("The invoice template is broken on my phone.", "complaint", "invoices", "negative"),
        ("You should add a dark mode to the mobile app.", "suggestion", "mobile_app", "neutral"),
        ("When will exports to CSV support dates?", "question", "export", "neutral"),
        ("I love how fast card payments arrive.", "praise", "payments", "positive"),
    ],
)
def test_rules_classify_a_caller_line(quote, kind, area, sentiment):
    item = rule_item(quote, AREAS)
    assert (item.type, item.product_area, item.sentiment, item.method) == (
        kind,
        area,
        sentiment,
        "rules",
    )


def test_urgent_money_problems_are_high_and_need_follow_up():
    item = rule_item("I was charged twice and I can't get paid, this is urgent.", AREAS)
    assert item.urgency == "high" and item.needs_followup and item.type == "complaint"


def test_a_question_the_notes_answered_needs_no_follow_up(tmp_path):
    from ceoline.store import ANSWERED_EVENT

    store = Store.open(tmp_path)
    call_id = a_call(store, "When was the company founded?", "Do you have an office in Germany?")
    store.add_event(call_id, ANSWERED_EVENT, "", 2000)  # the first question's start
    call = store.get_call(call_id)
    items = combine(None, call, AREAS).items
    assert [(i.type, i.needs_followup) for i in items] == [("question", False), ("question", True)]
    raw = {
        "summary": "The caller asked when the company was founded. The bot answered.",
        "items": [
            {
                "type": "question",
                "product_area": AREAS[next(iter(AREAS))].name,
                "sentiment": "neutral",
                "urgency": "low",
                "quote": "When was the company founded?",
                "needs_followup": True,
            }
        ],
    }
    first, second = combine(json.dumps(raw), call, AREAS).items
    assert first.quote == "When was the company founded?"
    assert first.type == "question" and not first.needs_followup
    assert second.needs_followup
    store.close()


def test_invalid_model_output_falls_back_to_rules(tmp_path):
    store = Store.open(tmp_path)
    call = store.get_call(a_call(store, "The invoice reminders go out twice, please fix it."))
    for raw in (None, "not json", "[]", '{"summary": 3}'):
        insights = combine(raw, call, AREAS)
        assert insights.summary_method == "rules" and insights.summary
        assert [i.method for i in insights.items] == ["rules"]
        assert insights.items[0].quote == "The invoice reminders go out twice, please fix it."
    store.close()


def test_model_items_are_kept_when_valid_and_fixed_or_dropped_when_not(tmp_path):
    store = Store.open(tmp_path)
    call = store.get_call(a_call(store, "The invoice reminders go out twice, please fix it."))
    raw = json.dumps(
        {
            "summary": "The caller said invoice reminders go out twice. They want it fixed.",
            "items": [
                {
                    "type": "complaint",
                    "product_area": "invoices",
                    "sentiment": "negative",
                    "urgency": "normal",
                    "quote": "invoice reminders go out twice",
                    "needs_followup": True,
                },
                {
                    "type": "praise",
                    "product_area": "nonsense",
                    "sentiment": "happy",
                    "urgency": "normal",
                    "quote": "please fix it",
                    "needs_followup": False,
                },
                {
                    "type": "complaint",
                    "product_area": "invoices",
                    "sentiment": "negative",
                    "urgency": "high",
                    "quote": "words the caller never said",
                    "needs_followup": 1,
                },
            ],
        }
    )
    insights = combine(raw, call, AREAS)
    # The summary says what the caller said, with no figure or name they did not: it stands.
    assert insights.summary_method == "llm"
    # Both drafted quotes are parts of the caller's sentence the rules already hold. The rules
    # had no word for its kind ("go out twice"), so the first draft's "complaint" fills it;
    # the area had words, so it stays; the made-up quote is dropped.
    (item,) = insights.items
    assert (item.type, item.product_area, item.method) == ("complaint", "invoices", "llm+rules")
    assert item.quote == "The invoice reminders go out twice, please fix it."
    store.close()


def test_a_drafted_item_fills_labels_the_rules_had_no_words_for(tmp_path):
    store = Store.open(tmp_path)
    call = store.get_call(a_call(store, "I think the whole thing needs a rethink honestly."))
    assert [(i.type, i.product_area) for i in combine(None, call, AREAS).items] == [
        ("other", "other")
    ]
    raw = {
        "summary": "The caller wants a rethink.",
        "items": [
            {"type": "suggestion", "product_area": "nonsense", "sentiment": "happy",
             "urgency": "high", "quote": "the whole thing needs a rethink", "needs_followup": True}
        ],
    }  # fmt: skip
    (item,) = combine(json.dumps(raw), call, AREAS).items
    assert (item.type, item.product_area, item.method) == ("suggestion", "other", "llm+rules")
    # Urgency and follow-up are the rules' alone.
    assert (item.urgency, item.needs_followup) == ("low", False)
    store.close()


def test_ending_a_call_queues_its_insights_and_the_worker_stores_them(tmp_path, config):
    store = Store.open(tmp_path)
    call_id = a_call(store, "Your pricing page is confusing, which plan has multi-currency?")
    assert store.insight_job_counts() == {"pending": 1}
    worker = InsightsWorker(config, store, model_factory=lambda c: None)
    assert worker.run_pending() == 1
    call = store.get_call(call_id)
    assert call["summary"] and call["summary_method"] == "rules"
    assert call["items"][0]["product_area"] == "pricing"
    assert store.insight_job_counts() == {"done": 1}
    store.close()


def test_a_call_in_a_language_the_model_does_not_speak_is_filed_by_the_rules(tmp_path, config):
    store = Store.open(tmp_path)
    call_id = store.create_call("sip", "1002@pbx", "Theo", line="se", language="sv")
    said = "Appen är väldigt långsam när jag skickar fakturor."
    store.add_turn(call_id, TurnRecord("caller", said, 2000, 4000, {}))
    store.end_call(call_id, "caller_hangup", 8.0)
    asked = []
    worker = InsightsWorker(config, store, model_factory=lambda c: asked.append(c))
    assert worker.run_pending() == 1
    call = store.get_call(call_id)
    # No gloss, no model summary: the caller's own words, kept in Swedish.
    assert not asked and call["summary_method"] == "rules"
    assert [item["quote"] for item in call["items"]] == [said]
    store.close()


def test_a_job_interrupted_by_a_kill_resumes(tmp_path, config):
    store = Store.open(tmp_path)
    call_id = a_call(store, "The mobile app logs me out every day.")
    store.close()
    # A worker process takes the job and is killed before it finishes.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from ceoline.store import Store; "
            "s = Store.open(Path(sys.argv[1])); print(s.claim_insight_job(), flush=True); "
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == call_id
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    store = Store.open(tmp_path)
    assert store.insight_job_counts() == {"running": 1}
    worker = InsightsWorker(config, store, model_factory=lambda c: None)
    worker.start()  # puts the killed worker's job back in the queue
    deadline = time.monotonic() + 20
    while store.insight_job_counts() != {"done": 1} and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.stop()
    assert store.get_call(call_id)["items"]
    store.close()


def test_a_broken_taxonomy_is_a_config_error(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text("[areas.invoices]\nwords = 3\n")
    with pytest.raises(ConfigError, match="words"):
        load_taxonomy(bad)
    bad.write_text('[areas.invoices]\nwords = ["invoice"]\n')
    with pytest.raises(ConfigError, match="other"):
        load_taxonomy(bad)


@pytest.mark.models
def test_real_call_through_the_real_model(engines, tmp_path, question_pcm):
    from ceoline.voice.simulate import WavCaller, run_call

    store = Store.open(tmp_path)
    result = asyncio.run(run_call(engines, WavCaller(question_pcm, 30), store))
    worker = InsightsWorker(engines.config, store)
    started = time.perf_counter()
    assert worker.run_pending() == 1
    took = time.perf_counter() - started
    call = store.get_call(result.call_id)
    print(
        json.dumps({"took_s": round(took, 1), "summary": call["summary"], "items": call["items"]})
    )
    assert call["summary"] and call["summary_method"] in ("llm", "rules")
    assert call["items"], call
    callers = " ".join(t["text"] for t in call["turns"] if t["role"] == "caller").lower()
    for item in call["items"]:
        assert " ".join(item["quote"].lower().split()) in " ".join(callers.split())
        assert item["method"] in ("llm", "llm+rules", "rules")
    store.close()


def test_cli_call_prints_the_summary(tmp_path):
    config = make_config(tmp_path, insights={"use_model": False})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ceoline",
            "call",
            str(ROOT / "tests/data/question-mission.wav"),
            "--config",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["summary"] and data["items"][0]["method"] == "rules"
    assert parse_config_file(config).insights.use_model is False


@pytest.mark.models
def test_a_live_call_stops_the_model_and_the_rules_file_the_call_at_once(engines, tmp_path):
    store = Store.open(tmp_path)
    first = a_call(store, "The export to CSV drops the dates, please fix that.")
    # A call comes in at the model's first token: the draft stops, the rules file the call.
    checks = iter([False, True])
    worker = InsightsWorker(engines.config, store, busy=lambda: next(checks, True))
    assert worker.run_one() is True
    call = store.get_call(first)
    assert call["summary_method"] == "rules" and call["items"]
    assert {i["method"] for i in call["items"]} == {"rules"}
    # While calls are live the model is not even asked: nothing waits for it.
    second = a_call(store, "The bank feed keeps disconnecting every few days.")
    worker.busy = lambda: True
    started = time.perf_counter()
    assert worker.run_one() is True
    assert time.perf_counter() - started < 2.0
    assert store.get_call(second)["items"][0]["product_area"] == "books"
    assert store.insight_job_counts() == {"done": 2}
    store.close()


@pytest.mark.models
@pytest.mark.parametrize(
    ("said", "phone", "wait_s", "expected"),
    [
        (
            "This is ridiculous. Your app charged my customer twice and nobody answers my "
            "emails. I want my money back now.",
            True,
            0,  # over the greeting
            {"type": "complaint", "urgency": "high", "needs_followup": True},
        ),
        # Asked after the greeting on a wideband line: what is scored is the insight, not
        # the hearing. Over the greeting or through 8 kHz µ-law, what tiny.en hears of this
        # short question depends on the CPU's kernels ("Wentworth Quillfern Founded" and
        # "When what we'll turn on this" with CTranslate2's AVX-512 ones).
        (
            "When was Quillfern founded, and by whom?",
            False,
            7,
            {"type": "question", "needs_followup": False},
        ),
    ],
    ids=["double-charge-phone-line", "answered-question"],
)
def test_an_unseen_voice_through_ceoline_call(tmp_path, said, phone, wait_s, expected):
    from ceoline.voice import espeak
    from ceoline.voice.audio import SAMPLE_RATE, through_phone_line, write_wav

    wav = tmp_path / "caller.wav"
    speech = espeak.speak(said)
    speech = np.concatenate([np.zeros(wait_s * SAMPLE_RATE, dtype=speech.dtype), speech])
    write_wav(wav, through_phone_line(speech) if phone else speech)
    done = subprocess.run(
        [sys.executable, "-m", "ceoline", "call", str(wav), "--json",
         "--config", str(make_config(tmp_path))],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    (item,) = data["items"]
    assert {k: item[k] for k in expected} == expected, data
    bot = " ".join(t["text"] for t in data["turns"] if t["role"] == "bot").lower()
    summary = data["summary"].lower()
    assert "can't touch payments" not in summary and "ai version" not in summary
    assert all(s.strip().lower() not in summary for s in bot.split(".") if len(s) > 20)
