"""What each kind of destination receives, rendered from a stored event.

``standard``: the event as stored, signed (Standard Webhooks). ``chat``: a Slack-compatible
incoming-webhook message (``{"text": …}``), which Mattermost, Rocket.Chat and Zulip's
Slack-compatible hooks accept. ``gitlab``: an issue per event through GitLab's issues API
(``POST /projects/:id/issues`` with a ``PRIVATE-TOKEN``), labelled by type, area and urgency.
"""

from __future__ import annotations

import json

from ceoline.config import LANGUAGE_NAMES, base_language


def _quote_language(item: dict) -> str:
    """' (quote in Swedish)' for a quote not in English; "" for an English one (British
    English included)."""
    language = item.get("language", "en")
    if base_language(language) == "en":
        return ""
    return f" (quote in {LANGUAGE_NAMES.get(language, language)})"


def chat_text(event: dict) -> str:
    data = event["data"]
    if event["type"] == "item.created":
        item = data["item"]
        urgent = ":rotating_light: urgent " if item["urgency"] == "high" else ""
        follow = " · needs follow-up" if item["needs_followup"] else ""
        return (
            f"{urgent}*{item['type']}* about *{item['product_area']}* "
            f"({item['sentiment']}{follow}){_quote_language(item)}\n> {item['quote']}\n"
            f"{data['link']}"
        )
    if event["type"] == "call.summarised":
        return f"Call summarised ({data['items']} items, {data['urgent']} urgent): " + (
            f"{data['summary']}\n{data['link']}"
        )
    return f"{event['type']}: {json.dumps(data)[:500]}"


def gitlab_issue(event: dict) -> dict:
    data = event["data"]
    if event["type"] == "item.created":
        item = data["item"]
        title = f"[{item['urgency']}] {item['type']}: {item['quote'][:80]}"
        labels = ["ceoline", item["type"], item["product_area"], f"urgency::{item['urgency']}"]
        if _quote_language(item):
            labels.append(f"language::{item['language']}")
        description = (
            f"> {item['quote']}{_quote_language(item)}\n\nSentiment: {item['sentiment']}; "
            f"follow-up: {'yes' if item['needs_followup'] else 'no'}.\n\nCall: {data['link']}"
        )
    else:
        title = f"{event['type']}: call {data.get('call_id', '')}"
        labels = ["ceoline"]
        description = data.get("summary", "") + f"\n\nCall: {data.get('link', '')}"
    return {"title": title, "description": description, "labels": ",".join(labels)}


def render(fmt: str, stored_body: str) -> bytes:
    event = json.loads(stored_body)
    if fmt == "chat":
        return json.dumps({"text": chat_text(event)}).encode()
    if fmt == "gitlab":
        return json.dumps(gitlab_issue(event)).encode()
    return stored_body.encode()
