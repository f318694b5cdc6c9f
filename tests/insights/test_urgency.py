"""The urgency rules: what must reach a person today."""

import pytest

from ceoline.insights.urgency import urgent_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Your app charged my customer twice and I want my money back now.", "charged"),
        ("There's a double charge on my card.", "charged"),
        # as Whisper hears it through a phone line, the "d" gone
        ("Your app charge my customer twice and no one answer my email", "charged"),
        ("My payout from Monday never arrived.", "missing"),
        ("I got an email pretending to be you, it's a scam.", "fraud"),
        ("I can see another company's invoices in my account.", "data"),
        ("I'm locked out and I'm the owner.", "locked_out"),
        ("The password reset email never comes.", "locked_out"),
        ("My VAT return is due on Friday and the report won't run.", "deadline"),
    ],
)
def test_harm_is_urgent(text, reason):
    assert urgent_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "The invoice screen is slow with a hundred clients.",
        "Please add a dark mode.",
        "There's an issue with the PDF logo.",
        "Of course the templates are lovely.",
        "Will you charge me twice if I upgrade in the middle of the month?",
        "Is it possible to charge my clients twice a month?",
    ],
)
def test_ordinary_feedback_is_not_urgent(text):
    assert urgent_reason(text) is None
