"""Which destinations get which events; the stored body; the formats."""

import json

from ceoline.config import Config, WebhookConfig
from ceoline.webhooks import events, formats

ITEM = {
    "id": 7,
    "type": "complaint",
    "product_area": "payments",
    "sentiment": "negative",
    "urgency": "high",
    "needs_followup": True,
    "quote": "Your app charged my customer twice.",
    "method": "rules",
}


def test_filters_by_event_urgency_type_and_area():
    hook = WebhookConfig(name="t", url="http://127.0.0.1/", events=("item.created",),
                         min_urgency="normal", areas=("payments",))  # fmt: skip
    assert events.wanted(hook, "item.created", ITEM)
    assert not events.wanted(hook, "item.created", {**ITEM, "urgency": "low"})
    assert not events.wanted(hook, "item.created", {**ITEM, "product_area": "books"})
    assert not events.wanted(hook, "call.summarised")


def test_a_destination_can_take_one_lines_calls_only():
    hook = WebhookConfig(name="se", url="http://127.0.0.1/", lines=("se",),
                         events=("item.created", "call.summarised"))  # fmt: skip
    assert events.wanted(hook, "item.created", ITEM, "se")
    assert not events.wanted(hook, "item.created", ITEM, "us")
    assert events.wanted(hook, "call.summarised", line="se")
    assert not events.wanted(hook, "call.summarised", line="us")
    everything = WebhookConfig(name="all", url="http://127.0.0.1/", events=("item.created",))
    assert events.wanted(everything, "item.created", ITEM, "us")


def test_a_destination_for_a_line_the_config_lacks_is_refused(tmp_path):
    import pytest

    from ceoline.config import parse_config_file
    from ceoline.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(
        '[[lines]]\nname = "us"\nnumber = "hotline"\n\n[[webhooks]]\nname = "t"\n'
        'url = "http://127.0.0.1/"\nformat = "chat"\nlines = ["se"]\n'
    )
    with pytest.raises(ConfigError, match=r"\[\[webhooks\]\] t: lines \['se'\] are not lines"):
        parse_config_file(path)


def test_the_same_event_is_the_same_message():
    assert events.message_id("item.created", "item:7") == events.message_id(
        "item.created", "item:7"
    )
    assert events.message_id("item.created", "item:7") != events.message_id(
        "item.created", "item:8"
    )


def test_chat_and_gitlab_render_from_the_stored_event():
    body = events.body("item.created", {"call_id": "c1", "link": "http://x/calls/c1", "item": ITEM})
    assert json.loads(body)["type"] == "item.created"
    chat = json.loads(formats.render("chat", body))
    assert "urgent" in chat["text"] and "charged my customer twice" in chat["text"]
    issue = json.loads(formats.render("gitlab", body))
    assert issue["title"].startswith("[high] complaint") and "urgency::high" in issue["labels"]
    assert formats.render("standard", body) == body.encode()


def test_a_swedish_quote_is_sent_as_said_and_marked_as_swedish():
    stored = {"call_id": "c1", "line": "se", "language": "sv", "summary": "s",
              "items": [{**ITEM, "quote": "Appen drog pengarna två gånger."}]}  # fmt: skip
    hook = WebhookConfig(name="chat", url="http://127.0.0.1/", format="chat",
                         events=("item.created", "call.summarised"))  # fmt: skip
    config = Config(webhooks=(hook,))
    rows = events.for_insights(config)(stored)
    sent = [json.loads(row["body"]) for row in rows]
    item = next(e for e in sent if e["type"] == "item.created")["data"]["item"]
    assert item["language"] == "sv" and item["quote"] == "Appen drog pengarna två gånger."
    assert next(e for e in sent if e["type"] == "call.summarised")["data"]["language"] == "sv"
    text = formats.chat_text(next(e for e in sent if e["type"] == "item.created"))
    assert "(quote in Swedish)" in text
    issue = formats.gitlab_issue(next(e for e in sent if e["type"] == "item.created"))
    assert "language::sv" in issue["labels"].split(",")
    for code in ("en", "en-gb"):
        english = {**stored, "language": code}
        english_event = json.loads(events.for_insights(config)(english)[0]["body"])
        assert "quote in" not in formats.chat_text(english_event)
        assert "language::" not in formats.gitlab_issue(english_event)["labels"]
