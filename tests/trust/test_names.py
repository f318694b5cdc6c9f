"""Heard slips for the company's own names, put right by sound; other words left as heard."""

import pytest

from ceoline.config import parse_config_file
from ceoline.persona.profile import load_persona
from ceoline.trust.answers import company_answers
from ceoline.trust.knowledge import open_knowledge
from ceoline.trust.names import CompanyNames, notes_words, sounds_like, use_vocabulary

from ..conftest import make_config


@pytest.fixture(autouse=True)
def no_vocabulary():
    """Without the model's vocabulary (it is process-wide once engines load), then as before."""
    before = use_vocabulary(None)
    yield
    use_vocabulary(before)


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    config = parse_config_file(make_config(tmp_path_factory.mktemp("names")))
    persona = load_persona(config.persona_file)
    kb = open_knowledge(config)
    yield company_answers(kb, persona.name, persona.company, persona.facts).names
    kb.close()


# Slips Whisper tiny made of the demo company's names, in the answer eval and live calls.
@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("Hi, why did you start Wilfern in the first place?", "Quillfern"),
        ("When was Quilford founded?", "Quillfern"),
        ("Tell me about Quill fern.", "Quillfern"),
        ("What does Quill-Fern's app do?", "Quillfern's"),
        ("Is Kilfern profitable?", "Quillfern"),
        ("Who is Idris Fenwik?", "Fenwick"),
        ("What does Amarah do?", "Amara"),
        ("Is Linkvist the CTO?", "Lindqvist"),
        ("Is Jonah Whitcomb the CFO?", "Whitcombe"),
        ("Who is Rosa Delacore?", "Delacourt"),
        ("Are you Theo Marketti?", "Marchetti"),
        ("Was the first shop on Wellmed Street?", "Wellmead"),
    ],
)
def test_a_slip_is_taken_as_the_name_it_sounds_like(names, heard, meant):
    understood = names.understand(heard)
    assert meant in understood.text and understood.changed, understood
    assert understood.heard == heard and understood.fixes


@pytest.mark.parametrize(
    "heard",
    [
        "Do you have an office in Germany?",  # a real other place
        "Is Ireland next?",
        "Welcome, I have a question.",  # a common word that opens a sentence
        "Welcome to the streets.",  # a name's plural is no slip
        "I rose early and called.",  # four letters carry too little sound
        "Is Rose the head of support?",
        "A quill and a fern are on the logo.",  # words of the notes
        "Why did you start Quillfern?",  # the name itself
        "Nobody answers my emails.",
        "My pistol club uses your app.",
    ],
)
def test_a_word_that_is_only_like_a_name_stays_as_heard(names, heard):
    understood = names.understand(heard)
    assert understood.text == heard and not understood.fixes, understood


def test_two_names_that_sound_alike_are_not_guessed_between():
    names = CompanyNames(["Carlsen", "Karlsen"], [])
    assert names.understand("Is Harlsen in?").text == "Is Harlsen in?"
    assert names.understand("Is Carlson in?").text == "Is Carlsen in?"


def test_a_lower_case_word_must_be_spelled_almost_the_same():
    assert sounds_like("quilfern", "quillfern", name_like=False) is not None
    assert sounds_like("wilfern", "quillfern", name_like=False) is None
    assert sounds_like("wilfern", "quillfern", name_like=True) is not None


def test_short_names_acronyms_and_empty_input():
    names = CompanyNames(["UK", "CEO", "Rosa Delacourt"], notes_words(["the team in the UK"]))
    assert set(names.names) == {"delacourt"}
    assert names.understand("").text == ""
    assert CompanyNames([]).understand("Wilfern").text == "Wilfern"


@pytest.fixture
def whisper_vocabulary():
    """A stand-in for Whisper's tokenizer: the words it writes as one token."""
    whole = {"portable", "madrid", "germany", "ireland", "wheel", "welcome", "pistol", "rose"}
    before = use_vocabulary(lambda word: word.lower() in whole)
    yield
    use_vocabulary(before)


def test_with_the_model_vocabulary_a_pieced_together_word_in_lower_case_is_a_slip(
    names, whisper_vocabulary
):
    assert names.understand("why did you start quillford?").text == "why did you start Quillfern?"
    assert names.understand("Is Amarah there?").text == "Is Amara there?"


@pytest.mark.parametrize(
    "heard",
    [
        "Is there a portable version?",  # "Portugal" by sound, but a word Whisper knows whole
        "Do you have an office in Madrid?",
        "When will you launch in Germany?",
        "Is Ireland next?",
        "My wheel is stuck.",
    ],
)
def test_with_the_model_vocabulary_a_word_it_knows_whole_is_never_a_slip(
    names, whisper_vocabulary, heard
):
    assert names.understand(heard).text == heard
