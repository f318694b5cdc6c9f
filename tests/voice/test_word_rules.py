"""Word rules over a caller's transcript."""

import pytest

from ceoline.voice.word_rules import (
    echoes,
    has_words,
    is_backchannel,
    is_question,
    is_stop_request,
    looks_unfinished,
)


@pytest.mark.parametrize(
    "text",
    ["I think that", "My question is,", "So, um...", "Honestly.", "Well, you see.", "Can you"],
)
def test_words_that_stop_mid_sentence_or_before_it(text):
    assert looks_unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is your mission?",
        "Who started the company with you",  # Whisper often drops the question mark
        "No, thank you.",
        "The invoice screen is too slow.",
        "OK",  # said alone, an answer to the bot
        "",
    ],
)
def test_finished_words(text):
    assert not looks_unfinished(text)


def test_backchannels_and_stop_requests():
    assert is_backchannel("mm-hm") and is_backchannel("Yeah.")
    assert not is_backchannel("Yeah, but the app crashed.")
    assert is_stop_request("Wait, stop.")
    assert has_words("Hello") and not has_words(" ... ")


def test_questions_with_or_without_their_mark():
    assert is_question("What is your mission?")
    assert is_question("When was Quillfern founded and by whom")
    assert is_question("So, how many people work there")
    assert not is_question("The invoice screen is too slow.")
    assert not is_question("My question is about the app.")


def test_the_bots_own_words_heard_back_are_told_from_the_callers():
    said = "Hi, this is an AI version of Theo Marchetti. This call is transcribed."
    assert echoes("This call is transcribed", said)
    assert echoes("an AI version of Theo", said)
    assert not echoes("When did you start the company?", said)
    assert not echoes("Is this call transcribed by a person?", said)
    assert not echoes("", said)
