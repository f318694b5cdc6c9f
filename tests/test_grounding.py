from ceoline.grounding import extractive_answer, is_grounded

NOTES = (
    "We started Quillfern in 2016 in Bristol, in a room above a bakery on Wellmead Street. "
    "Amara Lindqvist and I wrote the first invoicing tool there. "
    "Our first customers were print shops.",
)


def test_an_answer_sharing_the_notes_substance_is_grounded():
    assert is_grounded("We started in Bristol in 2016, above a bakery.", NOTES)


def test_a_number_the_notes_do_not_have_is_not_grounded():
    assert not is_grounded("We started in Bristol in 2012, above a bakery.", NOTES)


def test_an_answer_unrelated_to_the_notes_is_not_grounded():
    assert not is_grounded("I love talking to customers about their day.", NOTES)


def test_extractive_answer_picks_the_matching_sentences_in_order():
    answer = extractive_answer("where did you start the company", NOTES, max_sentences=1)
    assert answer.startswith("We started Quillfern in 2016 in Bristol")
    two = extractive_answer("who wrote the invoicing tool in bristol", NOTES)
    assert two.index("Bristol") < two.index("Amara")  # the notes' order, not the score's


def test_extractive_answer_of_nothing_is_empty():
    assert extractive_answer("anything", ()) == ""
