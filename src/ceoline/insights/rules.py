"""Feedback items and a summary from the caller's own words, by rules.

A caller turn is cut into sentences; sentences that are no feedback (a greeting, thanks and
goodbye, a request for a person, contact details, small talk, insults with nothing behind
them) are dropped, a sentence with no point of its own ("It's really annoying.") joins the one
before it, and each remaining point becomes an item labelled from its words. The summary is
built from those items in the caller's terms, so it never states what the caller did not say.
"""

from __future__ import annotations

import re

from ceoline.insights.faithful import sentences
from ceoline.insights.labels import MAX_ITEMS, Area, Insights, Item, area_for
from ceoline.insights.urgency import urgent_reason
from ceoline.store import ANSWERED_EVENT

_COMPLAINT = re.compile(
    r"\b(broken|bug\w*|crash\w*|freez\w*|slow\w*|forever|crawl\w*|lag\w*|doesn't work|does not"
    r" work|not working|stopped \w+ing|stopped working|keeps? \w+ing|problem|issue|hate|annoy\w*"
    r"|confus\w*|frustrat\w*|wrong|error\w*|fail\w*|terrible|awful|useless|painful|rubbish|can't"
    r"|cannot|won't|stuck|missing|disconnect\w*|drops?|dropped|closes|shuts? down|too expensive"
    r"|expensive|too much|costs? too|overpriced|not happy|unhappy|disappoint\w*|waited|waiting"
    r"|nobody|no one|never|hard|difficult|cut off|cuts off|squashed|blurry|cropped|ugly|worse"
    r"|price rise|put the price|worst|ridiculous|angry|upset|charged"
    r"|takes (?:hours|ages|days|weeks)"
    r"|same \w+ (?:twice|again|three times|over and over)"
    # Swedish, for the Swedish line's calls.
    r"|fungerar inte|funkar inte|långsam\w*|krånglig\w*|krångl\w*|krasch\w*|hänger sig"
    r"|fastnar|fel|felet|buggar?|problem\w*|irriter\w*|dålig\w*|dyr\w*|för dyrt|saknas"
    r"|försvunnit|väntat|ingen svarar|svårt|svår|tar (?:timmar|dagar|evigheter))\b"
)
_SUGGESTION = re.compile(
    r"\b(should|could you|would be (?:nice|great|good|lovely|useful|helpful)|would help|it would"
    r"|would save|please add|please let|i wish|i'd like|i would like|i'd love|i would love|why"
    r" not|how about|what about|suggest\w*|idea|feature request|add an?|support for|let me"
    r"|borde|skulle kunna|vore (?:bra|fint|skönt|smidigt)|lägg till|lägga till|jag önskar"
    r"|önskar|förslag\w*|idé|varför inte|stöd för)\b"
    r"|^could (?!i\b)\w+"
)
_QUESTION = re.compile(
    r"^(?:what|when|where|who|why|how|which|is|are|do|does|did|can|will|would i|could i|have"
    r"|has)\b|\b(?:do you plan|are you going to|will there be|is there a way|when will)\b"
    r"|^(?:vad|när|var|vem|vilken|vilket|vilka|varför|hur|kan ni|kommer ni|finns det|har ni"
    r"|är det|tänker ni|planerar ni)\b"
)
_PRAISE = re.compile(
    r"\b(love|loved|great|brilliant|amazing|excellent|fantastic|awesome|happy|wonderful"
    r"|perfect|superb|easier|professional|sorted|helpful|thank you|thanks|impressed|best"
    r"|älskar|gillar|toppen|jättebra|fantastisk\w*|suverän\w*|utmärkt\w*|grym\w*|nöjd"
    r"|smidig\w*|enklare|hjälpsam\w*|bra jobbat|tack)\b"
)
_NOT_FEEDBACK = re.compile(
    r"^(?:hi|hello|hey|good (?:morning|afternoon|evening)|oh hello|hi there|yes|yeah|no|ok"
    r"|okay|sure|right|thanks|thank you|cheers|bye|goodbye)\b[^.?!]{0,40}[.?!]?$"
    r"|\b(?:that's all|that is all|that's it|that's everything|bye|goodbye|thanks for listening"
    r"|is this the ceo|ceo line)\b"
    r"|\b(?:talk|speak) (?:to|with) (?:a |an |someone|somebody|a real)|put me through"
    r"|transfer me|real person|a human|an agent\b"
    r"|\bmy name is\b|\bcall me (?:back|on)\b|\bmy (?:email|number|phone number|address) is\b"
    r"|\b(?:weather|football|pizza|wrong number|dialled the wrong|dialed the wrong)\b"
)
_INSULT_ONLY = re.compile(
    r"\b(?:joke|useless|bloody|robot|shut up|wasting my time|stupid|idiot)\b", re.IGNORECASE
)


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def is_feedback(sentence: str, areas: dict[str, Area]) -> bool:
    plain = _plain(sentence)
    if len(re.findall(r"[^\W\d_]+", plain)) < 3 or _NOT_FEEDBACK.search(plain):
        return False
    return not (_INSULT_ONLY.search(plain) and area_for(plain, areas) == "other")


def has_point(sentence: str, areas: dict[str, Area]) -> bool:
    """Whether a sentence says something on its own, or only adds to a point next to it
    ("This is ridiculous.", "I want my money back now.")."""
    plain = _plain(sentence)
    return bool(
        area_for(plain, areas) != "other"
        or _SUGGESTION.search(plain)
        or plain.endswith("?")
        or len(plain.split()) > 7
    )


def kind_of(text: str) -> str:
    plain = _plain(text)
    if urgent_reason(plain):
        return "complaint"
    asks = _QUESTION.search(plain) is not None
    if _SUGGESTION.search(plain):
        return "suggestion"
    if asks:
        return "question"
    complaints = len(_COMPLAINT.findall(plain))
    praise = len(_PRAISE.findall(plain))
    if praise and praise >= complaints:
        return "praise"
    if complaints:
        return "complaint"
    return "question" if plain.endswith("?") else "other"


_SENTIMENT = {"complaint": "negative", "praise": "positive"}


def rule_item(
    quote: str, areas: dict[str, Area], followup: bool = False, answered: bool = False
) -> Item:
    """``answered``: the quote is a question the notes answered on the call."""
    kind = kind_of(quote)
    if answered and kind == "other":
        kind = "question"  # the hotline took it as one, though Whisper dropped the "?"
    urgent = urgent_reason(quote) is not None
    return Item(
        kind,
        area_for(quote, areas),
        _SENTIMENT.get(kind, "neutral"),
        "high" if urgent else "normal" if kind == "complaint" else "low",
        quote,
        followup or urgent or (kind == "question" and not answered),
        "rules",
    )


def answered_starts(call: dict) -> set[int]:
    """Where the caller's turns that the notes answered start: no one need follow those up."""
    return {e["t_ms"] for e in call.get("events", []) if e.get("kind") == ANSWERED_EVENT}


def caller_points(call: dict, areas: dict[str, Area]) -> list[tuple[str, bool]]:
    """Each point the caller made, in their words, and whether the notes answered it."""
    answered = answered_starts(call)
    points: list[tuple[str, bool]] = []
    previous: dict | None = None
    hotline_spoke = False  # since the caller's previous turn ended
    in_turn = 0
    for turn in call.get("turns", []):
        if turn.get("role") != "caller":
            ended = previous.get("end_ms", -1) if previous is not None else None
            hotline_spoke |= ended is not None and turn.get("start_ms", ended) >= ended
            continue
        # A turn the caller began before the hotline said anything goes on with their last
        # point: the pause that ended the previous turn fell inside it ("... charged my
        # customer twice." | "I want my money back now.").
        if previous is None or hotline_spoke:
            in_turn = 0
        previous, hotline_spoke = turn, False
        lead = ""  # asides before the turn's first point belong to it
        for sentence in sentences(turn["text"]):
            if not is_feedback(sentence, areas):
                continue
            if not has_point(sentence, areas):
                if in_turn:
                    quote, was_answered = points[-1]
                    points[-1] = (f"{quote} {sentence}", was_answered)
                else:
                    lead = f"{lead} {sentence}".strip()
                continue
            points.append((f"{lead} {sentence}".strip(), turn.get("start_ms") in answered))
            lead = ""
            in_turn += 1
        if lead:
            points.append((lead, turn.get("start_ms") in answered))
            in_turn += 1
    return points


def rule_items(call: dict, areas: dict[str, Area]) -> list[Item]:
    callback = bool(call.get("callback_requests"))
    items = [
        rule_item(quote, areas, followup=callback, answered=answered)
        for quote, answered in caller_points(call, areas)
    ]
    # The urgent ones first, so the cap never drops one.
    items.sort(key=lambda i: i.urgency != "high")
    return items[:MAX_ITEMS]


_SAID = {
    "complaint": "complained",
    "suggestion": "suggested",
    "praise": "praised",
    "question": "asked",
    "other": "said",
}


def rule_summary(call: dict, items: list[Item], areas: dict[str, Area]) -> str:
    """The caller's points as the caller put them, urgent ones first; the bot is left out."""
    if not items:
        return "The caller left no feedback."
    parts = []
    for item in items[:3]:
        label = areas[item.product_area].label if item.product_area in areas else "Other"
        about = "" if item.product_area == "other" else f" about {label.lower()}"
        urgent = " (urgent)" if item.urgency == "high" else ""
        quote = item.quote.strip().rstrip(".")
        lead = "The caller" if not parts else "They"
        parts.append(f'{lead} {_SAID[item.type]}{about}{urgent}: "{quote}".')
    if len(items) > 3:
        parts.append(f"They raised {len(items) - 3} more point{'s' if len(items) > 4 else ''}.")
    if call.get("escalations"):
        parts.append("They asked for a person.")
    return " ".join(parts)


def rule_insights(call: dict, areas: dict[str, Area]) -> Insights:
    items = rule_items(call, areas)
    return Insights(rule_summary(call, items, areas), "rules", items)
