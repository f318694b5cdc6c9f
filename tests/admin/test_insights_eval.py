"""`ceoline eval insights`: scoring on the labelled calls, rules on all, the model on a slice."""

import json
import subprocess
import sys

import pytest

from ceoline.admin.insights_eval import (
    TARGETS,
    as_store_call,
    evaluate,
    load_calls,
    pair_items,
    pairwise_f1,
)
from ceoline.errors import CeolineError
from ceoline.insights.faithful import read_notes
from ceoline.insights.labels import Item
from ceoline.insights.summary import load_taxonomy

from ..conftest import ROOT, make_config

SET = ROOT / "tests" / "data" / "insights" / "calls.jsonl"
AREAS = load_taxonomy(ROOT / "configs" / "taxonomy.toml")
NOTES = read_notes(ROOT / "configs" / "knowledge")


def test_the_set_has_every_kind_of_call_and_a_held_out_part():
    calls = load_calls(SET)
    assert len(calls) >= 80
    held = [c for c in calls if c.split == "heldout"]
    assert len(held) >= 20
    tuned = {i["text"] for c in calls if c.split == "tune" for i in c.expected}
    assert not tuned & {i["text"] for c in held for i in c.expected}
    kinds = {i["type"] for c in calls for i in c.expected}
    assert kinds >= {"complaint", "suggestion", "praise", "question"}
    assert sum(c.urgent for c in calls) >= 15
    assert any(not c.expected for c in calls)  # off-topic and abusive calls
    assert any(len(c.expected) >= 3 for c in calls)


def test_rules_meet_the_targets_on_both_parts():
    report = evaluate(load_calls(SET), AREAS, NOTES, None, ("rules",))
    data = report.as_json()
    for split, r in data["methods"]["rules"]["by_split"].items():
        assert r["recall"] >= TARGETS["recall"] and r["precision"] >= 0.9, (split, r)
        assert r["type"] >= TARGETS["type"] and r["area"] >= TARGETS["area"], (split, r)
        assert r["urgent_recall"] == 1.0 and r["false_urgent"] <= TARGETS["false_urgent"]
        assert r["summaries_with_bot_sentence"] == 0 and r["summaries_with_unsupported"] == 0
    assert data["themes_pairwise_f1"]["rules"] >= TARGETS["theme_f1"]


def test_scoring_pairs_quotes_and_counts_pairs():
    expected = [{"text": "The bank feed keeps disconnecting every few days."}]
    got = [Item("complaint", "books", "negative", "normal", "bank feed keeps disconnecting",
                False, "rules")]  # fmt: skip
    assert len(pair_items(got, expected)) == 1
    other = [Item("praise", "books", "positive", "low", "I love it", False, "rules")]
    assert pair_items(other, expected) == []
    assert pairwise_f1({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "x", "c": "y"}) == 1.0
    assert pairwise_f1({"a": 1, "b": 1, "c": 1}, {"a": "x", "b": "x", "c": "y"}) == 0.5


def test_a_bot_line_that_answered_is_an_answered_event():
    call = as_store_call(
        [
            {"role": "caller", "text": "When was Quillfern founded?"},
            {"role": "bot", "text": "In 2016.", "answered_previous": True},
        ],
        "c",
    )
    assert call["events"][0]["t_ms"] == call["turns"][0]["start_ms"]


def test_a_broken_set_is_one_clear_error(tmp_path):
    bad = tmp_path / "set.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(CeolineError, match=r"set\.jsonl:1"):
        load_calls(bad)


@pytest.mark.models
def test_the_model_and_what_ships_on_a_slice(tmp_path):
    config = make_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ceoline", "eval", "insights", "--limit", "6", "--json",
         "--config", str(config)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    shipped = data["methods"]["shipped"]["all"]
    rules = data["methods"]["rules"]["all"]
    assert data["methods"]["model"]["all"]["calls"] == 6
    assert shipped["summaries_with_bot_sentence"] == 0
    assert shipped["summaries_with_unsupported"] == 0
    assert shipped["recall"] >= rules["recall"] and shipped["urgent_recall"] in (1.0, None)
