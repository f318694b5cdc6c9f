from ceoline.config import ChunkerConfig
from ceoline.voice.chunker import Chunker, clean_for_speech, ends_sentence


def run(text: str, step: int = 3, **overrides) -> list[str]:
    chunker = Chunker(ChunkerConfig(**overrides))
    pieces = []
    for i in range(0, len(text), step):
        pieces += chunker.feed(text[i : i + step])
    return pieces + chunker.flush()


def test_first_piece_ends_at_an_early_comma():
    pieces = run("Thanks for calling, we love hearing from customers like you. Bye now.")
    assert pieces[0] == "Thanks for calling,"
    assert pieces[1] == "we love hearing from customers like you."
    assert pieces[2] == "Bye now."


def test_later_commas_need_more_words():
    pieces = run("Hello there. Yes, we do that, and we also do invoices for small shops.")
    assert pieces == ["Hello there.", "Yes, we do that, and we also do invoices for small shops."]


def test_sentence_end_needs_following_space_so_decimals_survive():
    pieces = run("Fees are 2.5 percent. That is all.")
    assert pieces == ["Fees are 2.5 percent.", "That is all."]


def test_abbreviations_do_not_split():
    pieces = run("Dr. Lee and Mr. Smith joined us, e.g. in March. Great.")
    assert pieces[0].startswith("Dr. Lee and Mr. Smith joined us,")
    assert "Great." in pieces[-1]


def test_long_run_without_punctuation_is_cut_at_max_words():
    words = " ".join(f"w{i}" for i in range(40))
    pieces = run(words, max_words=10)
    assert all(len(p.split()) <= 11 for p in pieces)
    assert " ".join(pieces).split() == words.split()


def test_nothing_is_lost_or_duplicated():
    text = "One, two, three four five six seven. Eight! Nine? Ten; eleven twelve thirteen fourteen."
    assert " ".join(run(text, step=1)).split() == text.split()


def test_newline_ends_a_piece():
    assert run("First line\nSecond line") == ["First line", "Second line"]


def test_clean_for_speech_strips_markup_and_emoji():
    text = "**Great** question! 😀\n- item\n# Title"
    assert clean_for_speech(text) == "Great question! item Title"
    assert clean_for_speech("Costs $5 & 10% off") == "Costs $5 & 10% off"


def test_ends_sentence():
    assert ends_sentence("Done.") and ends_sentence('He said "yes."') and not ends_sentence("and,")
