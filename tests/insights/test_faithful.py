"""Summary checks: nothing the bot said, no figure or name nobody said."""

from ceoline.insights.faithful import check_summary

CALL = {
    "turns": [
        {
            "role": "bot",
            "text": "Hi, this is an AI version of Theo Marchetti. What's on your mind?",
        },
        {"role": "caller", "text": "I was charged twice, 40 pounds each time, by Quillfern."},
        {
            "role": "bot",
            "text": "I'm sorry, I can't touch payments, refunds or account settings on this line.",
        },
    ]
}


def test_a_summary_in_the_callers_terms_passes():
    check = check_summary("The caller was charged twice, 40 pounds each time.", CALL)
    assert check.ok, check


def test_a_bot_sentence_fails():
    check = check_summary(
        "I'm sorry, I can't touch payments, refunds or account settings on this line.", CALL
    )
    assert check.bot_sentences and not check.ok


def test_a_figure_or_name_nobody_said_fails_unless_the_notes_hold_it():
    check = check_summary("The caller paid 90 pounds to Sarah Jones in Manchester.", CALL)
    assert set(check.unsupported) >= {"90", "Sarah", "Jones", "Manchester"}
    notes = "Quillfern's office is in Manchester."
    assert "Manchester" not in check_summary("They wrote from Manchester.", CALL, notes).unsupported


def test_a_made_up_claim_or_a_loop_fails():
    check = check_summary("The caller is not happy with the company's policies.", CALL)
    assert "policies" in check.foreign_words and not check.ok
    looped = "The caller was charged twice. The caller was charged twice."
    assert check_summary(looped, CALL).repeated
