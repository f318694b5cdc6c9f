"""Training the turn reader: the turns it learns from, how they are cut, the fit and the file."""

import json

import numpy as np
import pytest

from ceoline.admin import turn_training
from ceoline.admin.turn_training import Examples, caller_turns, cuts, fit, score, write_reader
from ceoline.errors import CeolineError
from ceoline.voice.turn_reader import feature_names, read_weights

from ..conftest import ROOT


def test_a_turn_is_cut_after_every_word_the_word_rules_leave_to_the_reader():
    got = cuts("I think that, the invoice screen is slow. It froze.")
    words = [c.words for c in got]
    # "I think that" and "... the" hang mid-sentence: the word rules hold them, not the reader.
    assert "I think that" not in words and "I think that, the" not in words
    assert words[-1] == "I think that, the invoice screen is slow. It froze"
    assert [c.finished for c in got].count(True) == 1 and got[-1].finished
    (after_mark,) = [c for c in got if c.at_mark]
    assert after_mark.words == "I think that, the invoice screen is slow"


def test_a_held_turn_is_cut_with_no_finished_cut():
    got = cuts("The problems are the login.", finished=False)
    assert got and not any(c.finished for c in got)
    assert got[-1].words == "The problems are the login"


def test_every_set_gives_its_turns_once_with_its_own_split():
    turns = caller_turns(ROOT)
    keys = [(t.text, t.finished) for t in turns]
    assert len(keys) == len(set(keys)) > 1500
    sources = {t.source for t in turns}
    assert sources == {s.name for s in turn_training.SOURCES}
    by_text = {t.text: t for t in turns}
    heldout_pauses = [
        json.loads(line)["text"]
        for line in (ROOT / "tests/data/turns/turns.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == "heldout"
    ]
    assert heldout_pauses and all(by_text[t].split == "heldout" for t in heldout_pauses)
    assert {t.split for t in turns} == {"tune", "heldout"}
    heard = [t for t in turns if t.heard]
    # Whisper's words at holds and at ends, in both parts.
    assert {(t.finished, t.split) for t in heard} == {
        (True, "tune"),
        (False, "tune"),
        (True, "heldout"),
        (False, "heldout"),
    }


def test_heard_rows_keep_their_label_and_split(tmp_path, monkeypatch):
    rows = [
        {"heard": "I think that the invoice", "finished": False, "split": "tune"},
        {"heard": "The invoice screen is slow", "finished": True, "split": "heldout"},
    ]
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(turn_training, "SOURCES", (turn_training.SourceSet("h", "h.jsonl"),))
    held, done = caller_turns(tmp_path)
    assert (held.finished, held.heard, held.split) == (False, True, "tune")
    assert (done.finished, done.heard, done.split) == (True, True, "heldout")


def test_half_of_the_turns_are_read_after_an_earlier_exchange():
    exchanges = turn_training.earlier_exchanges(ROOT)
    texts = [t.text for t in caller_turns(ROOT)[:400]]
    lengths = [len(turn_training.context_of(t, "system", exchanges)) for t in texts]
    assert set(lengths) == {1, 3, 5}
    assert 0.35 < lengths.count(1) / len(lengths) < 0.65
    # The same turn is always read after the same conversation.
    assert turn_training.context_of(texts[0], "s", exchanges) == turn_training.context_of(
        texts[0], "s", exchanges
    )
    assert turn_training.context_of(texts[0], "s", []) == [turn_training.Message("system", "s")]


def test_a_text_in_both_parts_is_held_out(tmp_path, monkeypatch):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": "The app is slow", "split": "tune"})
        + "\n"
        + json.dumps({"text": "The app is slow", "split": "heldout"})
        + "\n"
    )
    monkeypatch.setattr(turn_training, "SOURCES", (turn_training.SourceSet("a", "a.jsonl"),))
    (turn,) = caller_turns(tmp_path)
    assert turn.split == "heldout"


def test_a_broken_set_is_named_with_its_line(tmp_path, monkeypatch):
    (tmp_path / "a.jsonl").write_text('{"text": "fine words", "split": "tune"}\n{oops\n')
    monkeypatch.setattr(turn_training, "SOURCES", (turn_training.SourceSet("a", "a.jsonl"),))
    with pytest.raises(CeolineError, match=r"a\.jsonl:2: not JSON"):
        caller_turns(tmp_path)
    monkeypatch.setattr(turn_training, "SOURCES", (turn_training.SourceSet("b", "b.jsonl"),))
    with pytest.raises(CeolineError, match="not found"):
        caller_turns(tmp_path)


def examples(n_turns=60, seed=0) -> Examples:
    """Turns of six cuts each: the last finished; one feature carries the signal."""
    rng = np.random.default_rng(seed)
    rows, finished, turn = [], [], []
    for k in range(n_turns):
        for cut in range(6):
            done = cut == 5
            x = rng.normal(0, 1, len(feature_names()))
            x[0] += 2.5 if done else 0.0
            rows.append(x)
            finished.append(done)
            turn.append(k)
    n = len(rows)
    heldout = np.array(turn) >= n_turns * 3 // 4
    return Examples(
        np.stack(rows),
        np.array(finished),
        np.zeros(n, bool),
        np.zeros(n, bool),
        heldout,
        np.array(turn),
        np.zeros(n, bool),
        [""] * n,
        0.0,
    )


def test_the_fit_learns_on_the_tune_part_and_is_scored_on_both(tmp_path):
    data = examples()
    weights, c = fit(data)
    assert c in turn_training.C_GRID
    coef = np.array(weights["coef"])
    assert coef.shape == (len(feature_names()),) and np.argmax(np.abs(coef)) == 0
    x = (data.x - np.array(weights["mean"])) / np.array(weights["scale"])
    p = 1 / (1 + np.exp(-(x @ coef + weights["intercept"])))
    report = score(data, p)
    assert report["heldout"]["turns"] == 15 and report["heldout"]["auc"] > 0.85
    path = tmp_path / "turn-reader.json"
    write_reader(path, weights, "d" * 64, report)
    assert read_weights(path, "d" * 64)["report"]["heldout"]["turns"] == 15
    assert not (tmp_path / "turn-reader.json.tmp").exists()
