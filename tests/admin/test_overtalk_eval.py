"""`ceoline eval overtalk` on a slice of the over-talk set, with the real models."""

import json

import pytest

from ceoline.admin.overtalk_eval import evaluate, load_set
from ceoline.errors import CeolineError

from ..conftest import DATA

SET = DATA / "overtalk"


def test_the_set_covers_what_callers_do_over_the_bot():
    lines, bot, cases = load_set(SET)
    assert {line.kind for line in lines.values()} == {"question", "person", "feedback"}
    assert {line.voice for line in lines.values()} == {"piper", "espeak"}
    over = [c for c in cases if c.line]
    echo_only = [c for c in cases if c.line is None]
    assert {c.over for c in over} == {"greeting", "reply"}
    assert {c.caller_dbfs for c in over} == {-30, -20, -10}
    assert {c.echo_db for c in over} == {None, -6, -12, -20}
    assert all(60 <= c.echo_delay_ms <= 250 for c in cases)
    assert {c.echo_db for c in echo_only} == {-6, -12, -20} and {c.phone for c in cases} == {
        False,
        True,
    }
    persons = {c.line for c in over if c.over == "greeting" and lines[c.line].kind == "person"}
    assert persons == {k for k, v in lines.items() if v.kind == "person"}
    assert set(bot) == {"greeting", "reply"}


@pytest.mark.models
def test_callers_over_the_bot_are_heard_and_echo_never_is(engines):
    report = evaluate(engines, SET, ("canceller", "gate"), every=5)
    data = report.as_json()["fronts"]
    ours, gate = data["canceller"], data["gate"]
    # The full set's target is 5 points (`make eval`). On this slice of about 30 lines one
    # misheard word moves the gap by about a point, and the same code measured 2.5 points run
    # alone and 5.1 after the rest of the suite on one box: the slice gets that spread.
    assert ours["wer_gap_points"] <= 7.0, ours["worst"]
    assert ours["persons_over_greeting"] > 0 and ours["persons_lost"] == 0, ours["persons_missed"]
    assert ours["persons_escalated"] >= ours["persons_over_greeting"] - 1
    assert ours["echo_cases"] > 0
    assert ours["false_barge_ins"] == 0 and ours["echo_heard_as_speech"] == 0, ours["echo_heard"]
    assert ours["erle_db_min"] >= 20
    # The level gate it replaced, on the same audio, in the same run.
    assert gate["wer_over_talk"] > ours["wer_over_talk"] + 0.1


def test_a_broken_set_is_refused(tmp_path):
    with pytest.raises(CeolineError, match="make_overtalk_set"):
        load_set(tmp_path)
    (tmp_path / "lines.jsonl").write_text("")
    (tmp_path / "cases.jsonl").write_text(json.dumps({"line": "nope", "over": "greeting"}) + "\n")
    with pytest.raises(CeolineError, match="cannot read the audio"):
        load_set(tmp_path)
