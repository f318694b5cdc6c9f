"""`ceoline eval answers`: the labelled company questions, spoken, heard and answered."""

import json

import pytest

from ceoline.admin.answer_eval import (
    Outcome,
    Question,
    evaluate,
    load_questions,
    names_heard,
    score,
    word_errors,
)
from ceoline.errors import CeolineError
from ceoline.trust.languages import SWEDISH
from ceoline.trust.languages.english import LINES

from ..cli_support import one_line_error, run_cli
from ..conftest import DATA


def test_word_errors_count_edits_and_read_numbers_alike():
    assert word_errors("When was Quillfern founded?", "when was quillfern founded") == (0, 4)
    assert word_errors("about forty thousand", "about 40,000") == (0, 2)
    assert word_errors("who started the company", "who started company") == (1, 4)


def test_names_heard_counts_the_names_only():
    names = {"quillfern", "amara"}
    assert names_heard("Did Amara start Quillfern?", "did a mara start quilford", names) == (0, 2)
    assert names_heard("Did Amara start Quillfern?", "did amara start quillfern", names) == (2, 2)


def test_a_reply_is_scored_against_the_fact_and_the_wrong_ones():
    q = Question("q", "When was it founded?", ("2016",), ("2017",))
    assert score(Outcome(q, "piper", "wide", "", "", "In 2016.", 0)).correct
    both = score(Outcome(q, "piper", "wide", "", "", "In 2016, or 2017.", 0))
    assert both.wrong and not both.correct
    unknown = Question("u", "What car do you drive?", answerable=False)
    assert score(Outcome(unknown, "piper", "wide", "", "", LINES.dont_know, 0)).honest
    assert not score(Outcome(unknown, "piper", "wide", "", "", "A red one.", 0)).honest


def test_a_broken_set_is_one_clear_error(tmp_path):
    bad = tmp_path / "set.jsonl"
    bad.write_text('{"id": "a", "question": "Q?", "fact": ["x"]}\nnot json\n')
    with pytest.raises(CeolineError, match=r"set.jsonl:2: expected a JSON object"):
        load_questions(bad)
    bad.write_text('{"id": "a", "question": "Q?"}\n')
    with pytest.raises(CeolineError, match="needs a 'fact' list"):
        load_questions(bad)
    one_line_error(run_cli("eval", "answers", "--set", bad), "needs a 'fact' list", 1)
    one_line_error(run_cli("eval", "answers", "--voices", "robot"), "--voices robot", 1)


def rates(outcomes) -> dict:
    answerable = [o for o in outcomes if o.question.answerable]
    unknown = [o for o in outcomes if not o.question.answerable]
    return {
        "correct": sum(o.correct for o in answerable) / len(answerable),
        "wrong": sum(o.wrong for o in answerable) / len(answerable),
        "dont_know": sum(o.honest for o in unknown) / len(unknown),
    }


@pytest.mark.models
def test_the_real_path_meets_the_targets_on_a_slice(engines):
    questions = load_questions(DATA / "company_questions.jsonl")
    answerable = [q for q in questions if q.answerable][::4]
    unknown = [q for q in questions if not q.answerable][::3]
    report = evaluate(engines, answerable + unknown, ("piper", "espeak"), ("wide",), calls=2)
    data = report.as_json()
    print(json.dumps({k: v for k, v in data.items() if k != "failures"}))
    piper = rates([o for o in report.outcomes if o.voice == "piper"])
    espeak = rates([o for o in report.outcomes if o.voice == "espeak"])
    # Whatever Whisper hears, nothing the notes contradict is ever said.
    assert data["wrong_fact_rate"] == 0, data["failures"]
    # The 95 % targets hold for the text (tests/trust/test_answers.py); spoken, Whisper
    # tiny.en mishears some questions, and Piper's voice varies from run to run (its noise
    # is drawn inside the model: 83-97 % on every third question in two runs of the same
    # code), so these floors guard against regressions and `make eval` reports the rates.
    # espeak-ng is a voice tiny.en often mishears ("Series A" as "theory").
    assert piper["correct"] >= 0.8 and piper["dont_know"] >= 0.8, data["failures"]
    assert espeak["correct"] >= 0.6, data["failures"]
    # The company's names are heard more often with the hotwords than without.
    assert data["names_heard"] > data["names_heard_without_hotwords"]
    assert data["calls"] == 2 and data["response_ms_p50"] is not None


@pytest.mark.models
def test_the_swedish_notes_answer_swedish_questions_as_written(tmp_path):
    """The Swedish set as text (how well Whisper hears espeak-ng's Swedish is `make eval`'s
    to report): no wrong fact, and at least the tuning part's share answered."""
    from ceoline.config import parse_config_file
    from ceoline.engines import Engines

    from ..conftest import ROOT, make_config

    se = {"name": "se", "number": "hotline-se", "language": "sv", "stt": "base",
          "persona": str(ROOT / "configs" / "persona-se.toml"),
          "knowledge": str(ROOT / "configs" / "knowledge-se")}  # fmt: skip
    stages = Engines.load(parse_config_file(make_config(tmp_path, lines=[se])), warm=False)
    report = evaluate(stages.on_line("se"), load_questions(DATA / "company_questions_se.jsonl"),
                      ("text",), ("wide",), calls=0)  # fmt: skip
    data = report.as_json()
    assert data["wrong_fact_rate"] == 0 and data["word_error_rate"] is None, data["failures"]
    assert data["by_split"]["tuning"]["correct_fact_rate"] >= 0.7, data["failures"]
    assert data["by_split"]["tuning"]["dont_know_rate"] == 1.0, data["failures"]
    tuned = [o for o in report.outcomes if o.question.split == "tuning"]
    assert {o.reply for o in tuned if not o.question.answerable} == {SWEDISH.lines.dont_know}
