"""The notes check: every claim of a spoken sentence backed by one notes sentence."""

import pytest

from ceoline.trust.grounding import NotesCheck, in_persona_voice, proper_names, question_words

from ..conftest import ROOT

NOTES = tuple((ROOT / "configs" / "knowledge" / name).read_text() for name in ("history.md",))
HISTORY = (
    "Quillfern was founded in 2016 by Theo Marchetti and Amara Lindqvist in Bristol, in England. "
    "The first product was Quillfern Invoices, released in March 2017. "
    "Quillfern raised a seed round of one point five million pounds in 2017 and a Series A of "
    "twelve million pounds in 2019. "
    "The mobile app launched in 2020, and Quillfern Books followed in 2021. "
    "About forty thousand small businesses use Quillfern.",
)


@pytest.fixture(scope="module")
def check():
    return NotesCheck(HISTORY, "Quillfern", "Theo Marchetti")


@pytest.mark.parametrize(
    "sentence",
    [
        "We raised a seed round of 1.5 million pounds in 2017.",
        "We raised one point five million in 2017 and twelve million in 2019.",
        "The Series A was twelve million pounds in 2019.",
        "Amara and I started Quillfern in 2016.",
        "Quillfern Books followed in 2021.",
        "About 40,000 small businesses use Quillfern.",
    ],
)
def test_a_true_sentence_is_backed(check, sentence):
    assert check.supporting(sentence) is not None, check.why_not(sentence)


@pytest.mark.parametrize(
    ("sentence", "why"),
    [
        # Every figure is in the notes; the pairing is not.
        ("I raised a seed round of one point five million pounds in 2019.", "goes with"),
        ("My first product in March 2017 was a receipt scanner.", "receipt"),
        ("Quillfern was founded in 2015.", "2015"),
        ("Quillfern Books launched in 2020.", "not said together"),
        ("The mobile app launched in 2019.", "2019"),
        ("Our head office is in London.", "london"),
        ("We serve about 25,000 small businesses.", "25000"),
        ("Jonah and I founded the company.", "jonah"),
    ],
)
def test_a_wrong_fact_is_caught(check, sentence, why):
    assert check.supporting(sentence) is None
    assert why in check.why_not(sentence)


def test_a_sentence_must_add_something(check):
    spoken = "Quillfern was founded in 2016 by Amara Lindqvist and me in Bristol."
    assert not check.adds_to("We were founded in 2016.", spoken)
    assert not check.adds_to("Thanks for asking!", spoken)
    assert check.adds_to("The first product was Quillfern Invoices.", spoken)


def test_notes_sentences_in_the_persona_voice():
    say = in_persona_voice
    assert (
        say(
            "Quillfern was founded in 2016 by Theo Marchetti and Amara Lindqvist in Bristol.",
            "Theo Marchetti",
            "Quillfern",
        )
        == "Quillfern was founded in 2016 by Amara Lindqvist and me in Bristol."
    )
    assert say("Theo Marchetti is the CEO.", "Theo Marchetti", "Quillfern") == "I am the CEO."
    assert say("Quillfern's mission is plain.", "Theo Marchetti", "Quillfern") == (
        "Our mission is plain."
    )


def test_the_names_whisper_is_told_to_expect():
    names = proper_names(list(NOTES))
    assert {"Quillfern", "Amara", "Lindqvist", "Bristol", "Wellmead", "Lisbon"} <= set(names)
    assert "Outside" not in names and "The" not in names


def test_question_words_leave_out_the_question_and_the_company():
    assert question_words("When was Quillfern founded?", "Quillfern") == {"found"}


def test_feedback_gets_only_the_notes_sentences_about_what_the_caller_said():
    from ceoline.trust.grounding import notes_about

    passages = (
        "Plus costs twelve pounds a month. It adds the mobile app. We never sell data.",
        "The invoice screen was redesigned in 2024. Invoices export as PDF files.",
    )
    said = "The invoice screen in the app is confusing"
    # In the notes' order, not by score: the passage's own sense of sequence is kept.
    assert notes_about(said, passages) == (
        "It adds the mobile app.",
        "The invoice screen was redesigned in 2024.",
    )
    assert notes_about(said, passages, limit=1) == ("The invoice screen was redesigned in 2024.",)
    assert notes_about("thank you so much", passages) == ()
    assert notes_about(said, ()) == ()
