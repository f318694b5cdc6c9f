"""Write tests/data/insights/calls.jsonl: labelled calls for `ceoline eval insights`.

Each theme is a problem or wish several callers raise in their own words. Every line is
labelled once (type, area, sentiment, urgency, follow-up, theme) and belongs to one split: the
last line of each theme is held out, so no held-out call shares a sentence with a tuning call.
Calls are put together from these lines with the bot's side of the call, greetings, thanks,
requests for a person and small talk between them, reproducibly (a fixed seed). Run it again
after changing a line; the eval reports the tuning and held-out parts apart.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "insights" / "calls.jsonl"
GREETING = (
    "Hi, this is an AI version of Theo Marchetti, Quillfern's CEO. This call is transcribed. "
    "What's on your mind?"
)
BOT = {
    "complaint": "I'm sorry about that. I've written it down for the team, word for word.",
    "suggestion": "That's a good idea. I've passed it to the product team.",
    "praise": "Thank you, that means a lot to the team. I'll tell them.",
    "money": (
        "I'm sorry, I can't touch payments, refunds or account settings on this line. Our "
        "support team can help with that safely. Would you like me to transfer you?"
    ),
    "unanswered": (
        "I don't know that one, and I'd rather not guess. I've noted your question so someone "
        "can get back to you."
    ),
    "other": "I see. Is there anything about Quillfern you'd like to tell me?",
    "abuse": "I hear that you're frustrated. I'm here to listen whenever you're ready.",
    "handoff": "Of course. I'm putting you through to a person now.",
    "goodbye": "Thanks for calling Quillfern. Goodbye.",
}
# Answers a caller's question from the notes (configs/knowledge), as the hotline does.
ANSWERS = {
    "founding": "Quillfern was founded in 2016 by Theo Marchetti and Amara Lindqvist in Bristol.",
    "support-hours": (
        "The support team is available Monday to Friday, eight in the morning to eight in the "
        "evening, and Saturday from nine to one, UK time."
    ),
    "data-location": (
        "Quillfern keeps customer data in two data centres in the United Kingdom, with "
        "encrypted backups in a third."
    ),
    "export-formats": "Invoices and reports export as PDF files or as CSV spreadsheets.",
    "mobile-launch": "The mobile app launched in 2020, and Quillfern Books followed in 2021.",
    "close-account": (
        "You can close your account from the settings page, and your data stays available to "
        "export for ninety days."
    ),
}


def line(text, kind, area, sentiment, urgency, followup, theme, bot=None):
    return {
        "text": text,
        "type": kind,
        "area": area,
        "sentiment": sentiment,
        "urgency": urgency,
        "followup": followup,
        "theme": theme,
        "bot": bot or (kind if kind in BOT else "other"),
    }


def C(text, area, theme, urgency="normal", followup=False, bot=None):
    return line(text, "complaint", area, "negative", urgency, followup, theme, bot)


def U(text, area, theme):
    return line(text, "complaint", area, "negative", "high", True, theme, "money")


def S(text, area, theme):
    return line(text, "suggestion", area, "neutral", "low", False, theme)


def P(text, area, theme):
    return line(text, "praise", area, "positive", "low", False, theme)


def Q(text, area, theme, answer=None):
    """A question: answered from the notes (no follow-up) when ``answer`` names the passage."""
    item = line(text, "question", area, "neutral", "low", answer is None, theme)
    item["bot"] = f"answer:{answer}" if answer else "unanswered"
    item["answered"] = answer is not None
    return item


THEMES = [
    [
        C(
            "The invoice screen is really slow once you have a hundred clients.",
            "invoices",
            "invoice-slow",
        ),
        C(
            "Opening the invoices page takes forever now that I have lots of customers.",
            "invoices",
            "invoice-slow",
        ),
        C(
            "With about two hundred clients the invoice list just crawls, it's painful.",
            "invoices",
            "invoice-slow",
        ),
        C(
            "My invoice screen is so slow to load with all my clients on it.",
            "invoices",
            "invoice-slow",
        ),
        C(
            "The invoices page gets slower and slower the more clients I add.",
            "invoices",
            "invoice-slow",
        ),
    ],
    [
        U(
            "Your app charged my customer twice for the same invoice and I want the money back "
            "now.",
            "payments",
            "double-charge",
        ),
        U("I've been charged twice this month for my subscription.", "payments", "double-charge"),
        U("My client paid once but the card was charged two times.", "payments", "double-charge"),
        U(
            "There's a double charge on my card from Quillfern and nobody has fixed it.",
            "payments",
            "double-charge",
        ),
    ],
    [
        U(
            "My payout from last week never arrived in my bank account.",
            "payments",
            "missing-payout",
        ),
        U(
            "The money my customers paid has gone missing, the payout is five days late.",
            "payments",
            "missing-payout",
        ),
        U(
            "I can't pay my staff because the payout still hasn't come through.",
            "payments",
            "missing-payout",
        ),
    ],
    [
        U(
            "Someone sent my customers fake invoices with my logo asking them to pay a "
            "different account.",
            "invoices",
            "fraud",
        ),
        U(
            "I think there's fraud on my account, there are payments I never made.",
            "payments",
            "fraud",
        ),
        U(
            "I got an email pretending to be Quillfern asking for my card details, it looks like "
            "a scam.",
            "other",
            "fraud",
        ),
    ],
    [
        U(
            "When I logged in I could see another company's invoices, that's someone else's data.",
            "invoices",
            "data-exposure",
        ),
        U(
            "Your export gave me a file with other customers' names and addresses in it.",
            "export",
            "data-exposure",
        ),
        U(
            "I'm worried about a data breach, I can see a stranger's receipts in my account.",
            "books",
            "data-exposure",
        ),
    ],
    [
        U(
            "I'm locked out of my account and I'm the owner of the business.",
            "account",
            "locked-out",
        ),
        U(
            "I lost my phone with the two factor codes and now I can't log in at all.",
            "account",
            "locked-out",
        ),
        U(
            "The password reset email never comes and I'm stuck outside my own account.",
            "account",
            "locked-out",
        ),
    ],
    [
        U(
            "My VAT return is due on Friday and the tax report won't generate.",
            "books",
            "tax-deadline",
        ),
        U(
            "I have a tax deadline tomorrow and the year end report is missing all my expenses.",
            "books",
            "tax-deadline",
        ),
        U(
            "HMRC wants my return by the end of the week and the VAT figures in Books are wrong.",
            "books",
            "tax-deadline",
        ),
    ],
    [
        C("The bank feed keeps disconnecting every few days.", "books", "bank-feed"),
        C(
            "I have to reconnect my bank feed all the time, it's really annoying.",
            "books",
            "bank-feed",
        ),
        C("My bank feed stopped syncing again last week.", "books", "bank-feed"),
        C(
            "Every Monday the bank connection drops and my transactions stop coming in.",
            "books",
            "bank-feed",
        ),
    ],
    [
        C(
            "The mobile app crashes when I take a photo of a receipt.",
            "mobile_app",
            "app-crash-receipt",
        ),
        C(
            "Every time I scan a receipt on my phone the app closes.",
            "mobile_app",
            "app-crash-receipt",
        ),
        C(
            "The Android app keeps crashing on the receipt camera.",
            "mobile_app",
            "app-crash-receipt",
        ),
        C(
            "On my iPhone the app freezes and shuts down when I photograph receipts.",
            "mobile_app",
            "app-crash-receipt",
        ),
    ],
    [
        S("It would be great to have a dark mode in the app.", "mobile_app", "dark-mode"),
        S(
            "Could you add a dark mode, the white screen hurts my eyes at night.",
            "mobile_app",
            "dark-mode",
        ),
        S("Please add a dark theme to the mobile app.", "mobile_app", "dark-mode"),
        S("I wish the app had a night mode.", "mobile_app", "dark-mode"),
    ],
    [
        S(
            "You should let me export invoices to CSV with the VAT columns included.",
            "export",
            "csv-columns",
        ),
        S(
            "The CSV export should include the tax column, my accountant needs it.",
            "export",
            "csv-columns",
        ),
        S(
            "Could the spreadsheet export have a column for the VAT amount?",
            "export",
            "csv-columns",
        ),
        S("Please add the customer reference to the CSV export.", "export", "csv-columns"),
    ],
    [
        S("I'd love an integration with Xero.", "export", "xero"),
        S("Why not connect to Xero so my accountant can see everything?", "export", "xero"),
        S("A Xero integration would save me hours every month.", "export", "xero"),
    ],
    [
        S(
            "It would help if invoice reminders could be sent by text message.",
            "invoices",
            "sms-reminders",
        ),
        S("Could reminders go out as SMS as well as email?", "invoices", "sms-reminders"),
        S(
            "I wish late payment reminders could be texted to my customers.",
            "invoices",
            "sms-reminders",
        ),
    ],
    [
        S(
            "I'd like to be able to schedule recurring invoices every month.",
            "invoices",
            "recurring",
        ),
        S(
            "Please add repeating invoices, I bill the same clients every month.",
            "invoices",
            "recurring",
        ),
        S("It would be nice if I could set an invoice to repeat weekly.", "invoices", "recurring"),
    ],
    [
        C(
            "The new price is too expensive for a small business like mine.",
            "pricing",
            "price-rise",
        ),
        C(
            "You put the price of my plan up by a third and I'm not happy about it.",
            "pricing",
            "price-rise",
        ),
        C("The subscription costs too much since the last price rise.", "pricing", "price-rise"),
        C("Your plans have got really expensive this year.", "pricing", "price-rise"),
    ],
    [
        C("I waited three days for support to answer my ticket.", "support", "support-slow"),
        C("Nobody from support has replied to my emails for a week.", "support", "support-slow"),
        C("The support chat takes hours to get a response.", "support", "support-slow"),
        C("I've been waiting on a support ticket since Tuesday.", "support", "support-slow"),
    ],
    [
        P(
            "I love the new invoice templates, they look so professional.",
            "invoices",
            "templates-praise",
        ),
        P(
            "The invoice designs are brilliant, my customers comment on them.",
            "invoices",
            "templates-praise",
        ),
        P("Your invoice templates are great, thank you.", "invoices", "templates-praise"),
    ],
    [
        P(
            "Your support team was amazing when I had a problem last month.",
            "support",
            "support-praise",
        ),
        P(
            "Sarah in support sorted everything out for me in ten minutes, she was excellent.",
            "support",
            "support-praise",
        ),
        P("The help I got from your support people was fantastic.", "support", "support-praise"),
    ],
    [
        P("The app has made my bookkeeping so much easier.", "books", "books-praise"),
        P(
            "Quillfern Books saves me a whole day every month, I'm really happy with it.",
            "books",
            "books-praise",
        ),
        P("I love how simple the bookkeeping is now.", "books", "books-praise"),
    ],
    [
        C(
            "Setting up my account was confusing, I didn't know where to add my bank.",
            "onboarding",
            "setup-confusing",
        ),
        C(
            "The sign up process asked for the same details three times.",
            "onboarding",
            "setup-confusing",
        ),
        C(
            "Getting started was hard, the setup steps are confusing.",
            "onboarding",
            "setup-confusing",
        ),
    ],
    [
        C("The PDF invoices cut off my logo at the top.", "export", "pdf-logo"),
        C("My logo comes out squashed on the PDF.", "export", "pdf-logo"),
        C(
            "When I download an invoice as a PDF the logo is blurry and cropped.",
            "export",
            "pdf-logo",
        ),
    ],
    [
        Q("When was Quillfern founded?", "company", "q-founding", answer="founding"),
        Q("Who started the company?", "company", "q-founding", answer="founding"),
        Q("How did Quillfern begin, who founded it?", "company", "q-founding", answer="founding"),
    ],
    [
        Q("What are your support hours?", "support", "q-support-hours", answer="support-hours"),
        Q("When is the support team open?", "support", "q-support-hours", answer="support-hours"),
        Q(
            "Can I reach support on a Saturday?",
            "support",
            "q-support-hours",
            answer="support-hours",
        ),
    ],
    [
        Q("Where do you keep my data?", "account", "q-data", answer="data-location"),
        Q("Is my data stored in the UK?", "account", "q-data", answer="data-location"),
        Q("Which country are your servers in?", "account", "q-data", answer="data-location"),
    ],
    [
        Q(
            "Can I export my invoices as a spreadsheet?",
            "export",
            "q-export",
            answer="export-formats",
        ),
        Q(
            "What formats can I export my reports in?",
            "export",
            "q-export",
            answer="export-formats",
        ),
        Q(
            "Is there a way to get my invoices out as PDF files?",
            "export",
            "q-export",
            answer="export-formats",
        ),
    ],
    [
        Q("Are you going to release a desktop app for Mac?", "mobile_app", "q-roadmap"),
        Q("Will there be a version of Books for charities?", "books", "q-roadmap"),
        Q("When will you support payments in euros?", "payments", "q-roadmap"),
        Q("Do you plan to add payroll?", "other", "q-roadmap"),
    ],
    [
        Q("How do I close my account?", "account", "q-close", answer="close-account"),
        Q(
            "If I leave, how long can I still export my data?",
            "account",
            "q-close",
            answer="close-account",
        ),
        Q(
            "What happens to my data when I close my account?",
            "account",
            "q-close",
            answer="close-account",
        ),
    ],
]
# Caller turns that are not feedback: they must not become items.
OPENERS = [
    "Hi Theo.",
    "Hello, hi.",
    "Oh hello, is this the CEO line?",
    "Hi there.",
    "Good morning.",
]
CLOSERS = [
    "That's all, thanks, bye.",
    "OK, thank you, goodbye.",
    "Thanks for listening. Bye.",
    "That's it from me, cheers.",
]
HANDOFF = [
    "Can I talk to a real person, please?",
    "Put me through to someone.",
    "I want to speak to a human.",
]
ABUSE = ["This is a joke, you're a useless bloody robot.", "Shut up and stop wasting my time."]
OFF_TOPIC = [
    "Do you know what the weather is like in Bristol today?",
    "Sorry, I think I dialled the wrong number, I wanted the pizza place.",
    "Who do you think will win the football on Saturday?",
]
PERSONAL = [
    ("My name is Dana Whitfield and my account email is dana@example.com.", None),
    ("You can call me back on 07700 900123.", None),
]


def build(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    tune, held = [], []
    for theme in THEMES:
        tune += theme[:-1]
        held += theme[-1:]
    calls = []
    for split, pool, count in (("tune", tune, 64), ("heldout", held, 26)):
        pool = list(pool)
        rng.shuffle(pool)
        queue = list(pool)
        for n in range(count):
            if not queue:
                queue = list(pool)
                rng.shuffle(queue)
            calls.append(_call(rng, split, queue, n))
    for index, call in enumerate(calls, 1):
        call["id"] = f"c{index:03d}"
    return calls


def _call(rng: random.Random, split: str, queue: list[dict], n: int) -> dict:
    shape = n % 10
    turns = [{"role": "bot", "text": GREETING}]
    items = []

    def caller(text):
        turns.append({"role": "caller", "text": text})

    def bot(kind):
        if kind.startswith("answer:"):
            turns.append({"role": "bot", "text": ANSWERS[kind[7:]], "answered_previous": True})
        else:
            turns.append({"role": "bot", "text": BOT[kind]})

    if shape == 7:  # off-topic, abusive or no feedback at all
        caller(rng.choice(OPENERS))
        bot("other")
        caller(rng.choice(OFF_TOPIC if n % 20 == 7 else ABUSE))
        bot("other" if n % 20 == 7 else "abuse")
        caller(rng.choice(CLOSERS))
        bot("goodbye")
        return {"split": split, "turns": turns, "items": [], "facts": []}
    if rng.random() < 0.6:
        caller(rng.choice(OPENERS))
        bot("other")
    per_call = 1 + (shape in (2, 5, 8)) + (shape == 5)
    joined = shape == 8  # two items in one turn
    chosen = [queue.pop() for _ in range(min(per_call, len(queue)))]
    if joined and len(chosen) == 2:
        caller(f"{chosen[0]['text']} {chosen[1]['text']}")
        bot(chosen[1]["bot"])
        if chosen[0].get("answered"):  # the reply went to the second point only
            chosen[0] = {**chosen[0], "answered": False, "followup": True}
    else:
        for item in chosen:
            caller(item["text"])
            bot(item["bot"])
    for item in chosen:
        items.append({k: v for k, v in item.items() if k not in ("bot",)})
    if shape == 3:
        caller(PERSONAL[n % len(PERSONAL)][0])
        bot("other")
    if any(i["urgency"] == "high" for i in chosen) or shape == 9:
        caller(rng.choice(HANDOFF))
        bot("handoff")
    else:
        caller(rng.choice(CLOSERS))
        bot("goodbye")
    facts = [i["text"] for i in chosen]
    return {"split": split, "turns": turns, "items": items, "facts": facts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    calls = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for call in calls:
            f.write(json.dumps(call, ensure_ascii=False) + "\n")
    items = sum(len(c["items"]) for c in calls)
    urgent = sum(any(i["urgency"] == "high" for i in c["items"]) for c in calls)
    print(f"{len(calls)} calls, {items} items, {urgent} urgent calls -> {args.out}")


if __name__ == "__main__":
    main()
