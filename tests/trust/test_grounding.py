from ceoline.trust.grounding import extractive_answer, is_grounded, key_facts

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


def test_an_on_topic_answer_must_carry_the_fact_the_question_asks_for():
    notes = ("In 2022 Quillfern opened a second office in Lisbon, home to the support team.",)
    question = "When did you open the office in Lisbon?"
    assert key_facts(question, notes) == {"2022"}
    assert is_grounded("We opened Lisbon in 2022 for the support team.", notes, question)
    # Shares the notes' words, answers nothing: the notes are read out instead.
    assert not is_grounded(
        "Our support team can help you with the office in Lisbon.", notes, question
    )
    # Without the question, only the older checks apply.
    assert is_grounded("Our support team can help you with the office in Lisbon.", notes)


def test_names_count_as_facts_too():
    notes = ("Quillfern was founded by Theo Marchetti and Amara Lindqvist above a bakery.",)
    question = "Who founded Quillfern?"
    assert {"theo", "marchetti", "amara", "lindqvist"} <= key_facts(question, notes)
    assert is_grounded("Amara and I founded it above a bakery.", notes, question)
    assert not is_grounded("It was founded above a lovely bakery.", notes, question)
