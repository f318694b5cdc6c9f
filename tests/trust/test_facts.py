"""Facts read the same however they are written: digits, number words, spoken years, stems."""

import pytest

from ceoline.trust.facts import mentions, normalised, number_keys, stem


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("one point five million pounds", "1500000"),
        ("1.5 million", "1500000"),
        ("twelve million", "12000000"),
        ("forty thousand", "40000"),
        ("40,000", "40000"),
        ("twenty-five thousand", "25000"),
        ("one hundred and sixty people", "160"),
        ("two hundred and ten", "210"),
        ("twenty sixteen", "2016"),
        ("nineteen ninety nine", "1999"),
        ("one point four percent", "1.4"),
        ("the first twelve customers", "12"),
    ],
)
def test_numbers_are_read_however_they_are_written(text, number):
    assert number in number_keys(text)


def test_a_lone_one_is_not_a_figure():
    assert number_keys("in one tap, one set of records") == set()
    assert number_keys("one thousand customers") == {"1000"}


def test_two_numbers_side_by_side_stay_two():
    assert number_keys("Monday to Friday, eight in the morning to eight") == {"8"}
    assert number_keys("in 2017 and a Series A of twelve million") == {"2017", "12000000"}


def test_stems_and_synonyms_meet():
    assert stem("founded") == stem("started") == stem("began")
    assert stem("employees") == stem("people") == stem("staff")
    assert stem("invoices") == stem("invoice")
    assert stem("headquarters") == stem("office")


def test_mentions_finds_a_fact_in_any_form():
    assert mentions("We have about 40,000 customers", "40000")
    assert mentions("about forty thousand small businesses", "40000")
    assert mentions("Quillfern Invoices, released in March", "Invoices")
    assert not mentions("We have twenty five thousand customers", "40000")
    assert normalised("Print Works").strip() == "print work"
