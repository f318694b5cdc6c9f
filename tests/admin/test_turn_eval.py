"""`ceoline eval turns` on a slice of the labelled pause set, with the real models."""

import json
from pathlib import Path

import pytest

from ceoline.admin.turn_eval import LINES, Memo, evaluate, load_turns
from ceoline.errors import CeolineError

from ..conftest import DATA

SET = DATA / "turns" / "turns.jsonl"


def test_the_set_is_labelled_as_the_issue_asks():
    turns = load_turns(SET)
    with_holds = [t for t in turns if t.holds]
    assert len(with_holds) >= 150
    assert {t.voice for t in turns} == {"piper", "espeak"}
    assert all(t.file.is_file() for t in turns)
    assert all(300 <= end - start <= 1000 for t in with_holds for start, end in t.holds)


@pytest.mark.models
def test_the_turn_model_cuts_callers_off_less_than_the_fixed_window(engines):
    # An even slice of the whole set: both voices, both lines, every kind of turn.
    turns = load_turns(SET)[::8]
    memo = Memo()
    report = evaluate(engines, turns, LINES, memo=memo)
    data = report.as_json()["overall"]
    model, fixed = data["model"], data["fixed"]
    assert model["holds"] >= 40
    assert model["false_cut_offs"] < fixed["false_cut_offs"]
    assert model["end_delay_ms_p50"] < fixed["end_delay_ms_p50"]
    # The 5 % target holds over the whole set (make eval); on this slice of about 54 holds
    # one cut-off moves the rate by two points, and verdicts land as fast as the CPU allows.
    assert model["false_cut_off_rate"] <= 0.10
    # Replayed from the memo: no model runs again, and every result lands as it did.
    sizes = (len(memo.transcripts), len(memo.verdicts), len(memo.readings))
    again = evaluate(engines, turns, LINES, memo=memo).as_json()["overall"]
    assert (len(memo.transcripts), len(memo.verdicts), len(memo.readings)) == sizes
    assert again == data


def test_a_broken_set_is_refused(tmp_path):
    bad = tmp_path / "turns.jsonl"
    bad.write_text(json.dumps({"file": "a.flac", "voice": "piper"}) + "\n")
    with pytest.raises(CeolineError, match=r"turns.jsonl:1: not a labelled turn"):
        load_turns(bad)
    with pytest.raises(CeolineError, match=r"run scripts/make_turn_set\.py"):
        load_turns(Path(tmp_path / "missing.jsonl"))
