"""Swedish identity numbers: dates and checksums."""

import pytest

from ceoline.trust.swedish_ids import luhn_valid, personnummer_valid


@pytest.mark.parametrize(
    "digits",
    ["8507099805", "198507099805", "8507699949"[:6] + "6949", "200203152335"],
)
def test_valid_personnummer_and_samordningsnummer(digits):
    assert personnummer_valid(digits)


@pytest.mark.parametrize(
    "digits",
    ["8507099806", "8513099805", "8507329805", "188507099805", "850709980", "12345"],
)
def test_wrong_checksum_month_day_century_or_length(digits):
    assert not personnummer_valid(digits)


def test_bankgiro_checksum():
    assert luhn_valid("50501055") and not luhn_valid("50501056")
