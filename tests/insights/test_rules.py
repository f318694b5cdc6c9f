"""Items and summaries from the caller's words by rules."""

from ceoline.insights.rules import caller_points, rule_insights
from ceoline.insights.summary import load_taxonomy

from ..conftest import ROOT

AREAS = load_taxonomy(ROOT / "configs" / "taxonomy.toml")
GREETING = "Hi, this is an AI version of Theo Marchetti, Quillfern's CEO. What's on your mind?"
REFUSAL = "I'm sorry, I can't touch payments, refunds or account settings on this line."


def call(*caller_lines: str) -> dict:
    turns = [{"role": "bot", "text": GREETING, "start_ms": 0}]
    for n, line in enumerate(caller_lines, 1):
        turns.append({"role": "caller", "text": line, "start_ms": n * 10_000})
        turns.append({"role": "bot", "text": REFUSAL, "start_ms": n * 10_000 + 5000})
    return {"turns": turns, "events": [], "escalations": []}


def test_the_double_charge_is_an_urgent_payments_complaint_summarised_in_the_callers_words():
    insights = rule_insights(
        call(
            "This is ridiculous. Your app charged my customer twice and nobody answers my "
            "emails. I want my money back now."
        ),
        AREAS,
    )
    (item,) = insights.items
    assert (item.type, item.product_area, item.urgency, item.needs_followup) == (
        "complaint",
        "payments",
        "high",
        True,
    )
    assert "charged my customer twice" in insights.summary
    assert "can't touch payments" not in insights.summary and "AI version" not in insights.summary


def test_greetings_goodbyes_requests_for_a_person_and_contact_details_are_not_items():
    points = caller_points(
        call(
            "Hi Theo.",
            "Can I talk to a real person, please?",
            "My name is Dana Whitfield and my email is dana@example.com.",
            "That's all, thanks, bye.",
        ),
        AREAS,
    )
    assert points == []


def test_two_points_in_one_turn_are_two_items_and_an_aside_joins_its_point():
    items = rule_insights(
        call(
            "I love the new invoice templates. The bank feed keeps disconnecting. "
            "It's really annoying."
        ),
        AREAS,
    ).items
    assert [(i.type, i.product_area) for i in items] == [
        ("praise", "invoices"),
        ("complaint", "books"),
    ]
    assert items[1].quote.endswith("It's really annoying.")


def test_a_point_the_turn_detector_cut_in_two_stays_one_item():
    # The caller paused after "email" and went on before the hotline said anything: the
    # tail has no point of its own and belongs to the point before it.
    turns = [
        {"role": "caller", "text": "Your app charge my customer twice and no one answer my "
         "email", "start_ms": 0, "end_ms": 5120},
        {"role": "bot", "text": GREETING, "start_ms": 0, "end_ms": 6760},
        {"role": "caller", "text": "I want my money back now.", "start_ms": 5440,
         "end_ms": 6980},
        {"role": "bot", "text": REFUSAL, "start_ms": 8160, "end_ms": 16580},
    ]  # fmt: skip
    (item,) = rule_insights({"turns": turns, "events": [], "escalations": []}, AREAS).items
    assert (item.type, item.product_area, item.urgency, item.needs_followup) == (
        "complaint",
        "payments",
        "high",
        True,
    )
    assert item.quote.endswith("email I want my money back now.")


def test_a_point_less_turn_after_the_hotline_spoke_is_not_joined_to_the_last_point():
    insights = rule_insights(
        call("The bank feed keeps disconnecting.", "I want my money back now."), AREAS
    )
    assert [i.quote for i in insights.items] == [
        "I want my money back now.",
        "The bank feed keeps disconnecting.",
    ]


def test_a_call_without_feedback_says_so():
    insights = rule_insights(call("Who do you think will win the football on Saturday?"), AREAS)
    assert insights.items == [] and insights.summary == "The caller left no feedback."


def test_swedish_callers_words_are_labelled_by_the_same_rules():
    """A Swedish line's call: no model glosses it, so the rules must file it."""
    from ceoline.insights.rules import rule_item

    cases = {
        "Ni har dragit pengarna två gånger från mitt konto.": ("complaint", "payments", "high"),
        "Ni borde lägga till mörkt läge i appen.": ("suggestion", "mobile_app", "low"),
        "Jag älskar den nya fakturamallen.": ("praise", "invoices", "low"),
        "Exporten till Fortnox fungerar inte.": ("complaint", "export", "normal"),
        "Vad kostar företagspaketet?": ("question", "pricing", "low"),
    }
    for quote, labels in cases.items():
        item = rule_item(quote, AREAS)
        assert (item.type, item.product_area, item.urgency) == labels, quote
    insights = rule_insights(call("Utbetalningen till mina anställda har inte kommit fram."), AREAS)
    (item,) = insights.items
    assert (item.type, item.urgency, item.needs_followup) == ("complaint", "high", True)
