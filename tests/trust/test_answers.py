"""Company answers from the notes, no model: the opening sentence and the check behind it."""

import json
import re

import pytest

from ceoline.config import parse_config_file
from ceoline.persona.profile import load_persona
from ceoline.trust.answers import company_answers, may_follow
from ceoline.trust.facts import mentions
from ceoline.trust.knowledge import open_knowledge

from ..conftest import DATA, make_config

ALL = [json.loads(line) for line in (DATA / "company_questions.jsonl").read_text().splitlines()]
# The rules were tuned on this part; the held-out part is scored below, apart.
SET = [row for row in ALL if row.get("split", "tuning") == "tuning"]
HELD_OUT = [row for row in ALL if row.get("split") == "heldout"]


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    config = parse_config_file(make_config(tmp_path_factory.mktemp("answers")))
    persona = load_persona(config.persona_file)
    kb = open_knowledge(config)
    yield company_answers(kb, persona.name, persona.company, persona.facts), kb
    kb.close()


def openings(answers, rows=None):
    built, kb = answers
    for row in SET if rows is None else rows:
        ranked = tuple(p.text for p in kb.search(row["question"], limit=2))
        yield row, built.opening(row["question"], ranked)


def test_the_set_is_big_enough_and_labelled():
    answerable = [r for r in SET if r.get("answerable", True)]
    assert len(answerable) >= 60 and len(SET) - len(answerable) >= 15
    assert all(r["fact"] and "wrong" in r for r in answerable)


def scored(answers, rows=None) -> tuple[float, int, list]:
    """(share of answerable questions whose opening carries the fact, openings with a wrong
    fact, the misses)."""
    right = wrong = total = 0
    misses = []
    for row, opening in openings(answers, rows):
        if not row.get("answerable", True):
            continue
        total += 1
        said = opening.text if opening else ""
        if any(mentions(said, w) for w in row.get("wrong", ())):
            wrong += 1
            misses.append((row["id"], said))
        elif any(mentions(said, f) for f in row["fact"]):
            right += 1
        else:
            misses.append((row["id"], said))
    return right / total, wrong, misses


def test_openings_carry_the_fact_and_no_wrong_one(answers):
    right, wrong, misses = scored(answers)
    assert right >= 0.95 and wrong == 0, misses


def test_the_held_out_questions_are_answered_as_well_as_the_rules_generalise(answers):
    """Written after the rules were tuned, and never tuned on: a floor, not the target."""
    assert len(HELD_OUT) >= 25
    right, wrong, misses = scored(answers, HELD_OUT)
    assert right >= 0.8 and wrong == 0, misses


def test_what_the_notes_do_not_hold_gets_no_opening(answers):
    unknown = [(row["id"], o) for row, o in openings(answers) if not row.get("answerable", True)]
    answered = [(i, o.text) for i, o in unknown if o is not None]
    assert len(answered) <= len(unknown) * 0.07, answered


def test_every_opening_passes_its_own_check(answers):
    built, _ = answers
    for row, opening in openings(answers):
        if opening is not None:
            for sentence in re.split(r"(?<=[.!?])\s+", opening.text):
                assert built.check.supporting(sentence), (row["id"], sentence)


def test_each_wrong_fact_put_into_a_right_answer_is_rejected(answers):
    """The opening with its fact swapped for each of the set's wrong facts."""
    built, _ = answers
    tried = 0
    for row, opening in openings(answers):
        if opening is None or not row.get("answerable", True):
            continue
        for fact in row["fact"]:
            for wrong in row["wrong"]:
                if " " in wrong or not re.search(rf"\b{re.escape(fact)}\b", opening.text):
                    continue
                swapped = re.sub(rf"\b{re.escape(fact)}\b", wrong, opening.text)
                ok, _ = may_follow(built.check, swapped, "")
                assert not ok, (row["id"], swapped)
                tried += 1
    assert tried >= 40


def test_an_unknown_name_is_not_answered_from_similar_notes(answers):
    built, _ = answers
    assert built.opening("When will Quillfern launch in Germany?") is None
    assert built.opening("When did you open the Lisbon office?") is not None
    # Whisper's mishearing of the company is still the company.
    assert built.opening("When was Quilford founded?") is not None


def test_a_caller_who_greets_the_persona_by_name_is_asked_about_the_company(answers):
    built, _ = answers
    opening = built.opening("Hi Theo, how did Quillfern get started?")
    assert opening is not None and "2016" in opening.text, opening


UK = [json.loads(line) for line in (DATA / "company_questions_uk.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uk_answers(tmp_path_factory):
    """The UK line as shipped (configs/markets.toml): its persona, its notes and the company's."""
    from ceoline.lines import load_lines

    from ..conftest import ROOT

    config = parse_config_file(ROOT / "configs" / "markets.toml")
    (uk,) = [line for line in config.lines if line.name == "uk"]
    config = parse_config_file(
        make_config(
            tmp_path_factory.mktemp("uk"),
            lines=[{"name": "uk", "number": "hotline-uk", "company_notes": True,
                    "persona": str(ROOT / "configs" / uk.persona),
                    "knowledge": str(ROOT / "configs" / uk.knowledge)}],
        )
    )  # fmt: skip
    (line,) = load_lines(config)
    persona = line.persona
    yield (
        company_answers(line.knowledge, persona.name, persona.company, persona.facts),
        line.knowledge,
    )
    line.knowledge.close()


def test_the_uk_line_is_held_to_the_same_targets(uk_answers):
    """A second English line, its own notes on top of the company's: the main line's targets
    on the tuning part, its floor on the held-out part (`make eval` reports both, spoken)."""
    tuning = [row for row in UK if row.get("split", "tuning") == "tuning"]
    held_out = [row for row in UK if row.get("split") == "heldout"]
    assert len(tuning) >= 30 and len(held_out) >= 12
    right, wrong, misses = scored(uk_answers, tuning)
    assert right >= 0.95 and wrong == 0, misses
    unknown = [o for row, o in openings(uk_answers, tuning) if not row.get("answerable", True)]
    assert all(o is None for o in unknown), [o.text for o in unknown if o]
    right, wrong, misses = scored(uk_answers, held_out)
    assert wrong == 0, misses


def test_lines_sharing_notes_keep_their_personas_facts(answers):
    _, kb = answers
    boat, kite = ("Quillfern has a boat.",), ("Quillfern has a kite.",)
    a = company_answers(kb, "Theo Marchetti", "Quillfern", boat)
    b = company_answers(kb, "Theo Marchetti", "Quillfern", kite)
    assert a is not b and company_answers(kb, "Theo Marchetti", "Quillfern", boat) is a
    assert any("boat" in text for text in a.passages)
    assert not any("boat" in text for text in b.passages)
