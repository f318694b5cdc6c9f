"""Which destinations get which events, and the stored form of each event.

An event is stored once per destination as Standard Webhooks' body, ``{"type", "timestamp",
"data"}``, from the redacted insights; the destination's format is rendered from it at send
time. The message id is derived from what the event is about (the item, the call), so the
same event queued twice is one message, and a receiver drops repeats by it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from ceoline.config import Config, WebhookConfig
from ceoline.store import Store

_URGENCY = {"low": 0, "normal": 1, "high": 2}


def wanted(
    hook: WebhookConfig, event_type: str, item: dict | None = None, line: str | None = None
) -> bool:
    """Does ``hook`` take this event: its type, and for a call's events the call's ``line``
    and the item's urgency, type and area?"""
    if event_type not in hook.events:
        return False
    if line is not None and hook.lines and line not in hook.lines:
        return False
    if item is None:
        return True
    return (
        _URGENCY.get(item.get("urgency", "low"), 0) >= _URGENCY[hook.min_urgency]
        and (not hook.types or item.get("type") in hook.types)
        and (not hook.areas or item.get("product_area") in hook.areas)
    )


def message_id(event_type: str, subject: str) -> str:
    return "msg_" + hashlib.sha256(f"{event_type}:{subject}".encode()).hexdigest()[:24]


def body(event_type: str, data: dict, at: datetime | None = None) -> str:
    at = at or datetime.now(UTC)
    stamp = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data}, sort_keys=True)


def dashboard_link(config: Config, call_id: str) -> str:
    host = config.dashboard.host
    return f"http://{host}:{config.dashboard.port}/calls/{call_id}"


def for_insights(config: Config):
    """The outbox rows for a call's stored insights (``Store.save_insights(outbox=…)``);
    None when no destination is configured."""
    if not config.webhooks:
        return None

    def rows(stored: dict) -> list[dict]:
        call_id, line = stored["call_id"], stored["line"]
        # The language the quotes are in, as the caller spoke them: no model here glosses them.
        language = stored.get("language", "en")
        link = dashboard_link(config, call_id)
        out = []
        for hook in config.webhooks:
            for item in stored["items"]:
                if wanted(hook, "item.created", item, line):
                    data = {
                        "call_id": call_id,
                        "line": line,
                        "link": link,
                        "item": {
                            **{key: item[key]
                               for key in ("id", "type", "product_area", "sentiment", "urgency",
                                           "needs_followup", "quote")},
                            "language": language,
                        },
                    }  # fmt: skip
                    out.append(_row(hook, "item.created", f"item:{item['id']}", data))
            if wanted(hook, "call.summarised", line=line):
                data = {
                    "call_id": call_id,
                    "line": line,
                    "language": language,
                    "link": link,
                    "summary": stored["summary"],
                    "items": len(stored["items"]),
                    "urgent": sum(i["urgency"] == "high" for i in stored["items"]),
                }
                out.append(_row(hook, "call.summarised", f"call:{call_id}", data))
        return out

    return rows


def _row(hook: WebhookConfig, event_type: str, subject: str, data: dict) -> dict:
    return {
        "webhook": hook.name,
        "event_type": event_type,
        "msg_id": message_id(event_type, subject),
        "body": body(event_type, data),
    }


OVERDUE_AFTER = timedelta(hours=24)
RISING_MIN_ITEMS = 3


def periodic_rows(config: Config, store: Store, now: datetime | None = None) -> list[dict]:
    """Events no single write makes true: an item unreviewed for 24 hours (``item.overdue``),
    a theme with at least 3 items this week and more than twice last week's
    (``theme.rising``). Their ids name the item, or the theme and week, so a scan that runs
    again queues nothing twice."""
    hooks = [h for h in config.webhooks if {"item.overdue", "theme.rising"} & set(h.events)]
    if not hooks:
        return []
    now = now or datetime.now(UTC)
    due = (now - OVERDUE_AFTER).isoformat(timespec="milliseconds")
    week, before = now - timedelta(days=7), now - timedelta(days=14)
    with store.reading() as db:
        overdue = list(
            db.query(
                "SELECT fi.id, fi.call_id, c.line, c.language, fi.type, fi.product_area, "
                "fi.sentiment, fi.urgency, fi.needs_followup, fi.quote, fi.created_at "
                "FROM feedback_items fi JOIN calls c ON c.id = fi.call_id "
                "WHERE fi.reviewed_at IS NULL AND fi.created_at < ? ORDER BY fi.id LIMIT 500",
                [due],
            )
        )
        rising = list(
            db.query(
                "SELECT t.id, t.product_area, t.type, t.title, "
                "SUM(fi.created_at >= :week) AS count, "
                "SUM(fi.created_at >= :before AND fi.created_at < :week) AS previous, "
                "MAX(fi.quote) AS quote "
                "FROM themes t JOIN feedback_items fi ON fi.theme_id = t.id "
                "WHERE t.merged_into IS NULL GROUP BY t.id "
                "HAVING count >= :least AND count > 2 * previous",
                {"week": week.isoformat(), "before": before.isoformat(),
                 "least": RISING_MIN_ITEMS},
            )
        )  # fmt: skip
    stamp = now.strftime("%G-W%V")
    rows = []
    for hook in hooks:
        for item in overdue:
            item = {**item, "needs_followup": bool(item["needs_followup"])}
            if wanted(hook, "item.overdue", item, item["line"]):
                data = {"call_id": item["call_id"], "line": item["line"],
                        "link": dashboard_link(config, item["call_id"]),
                        "item": {k: item[k] for k in ("id", "type", "product_area", "sentiment",
                                                      "urgency", "needs_followup", "quote",
                                                      "language")},
                        "created_at": item["created_at"]}  # fmt: skip
                rows.append(_row(hook, "item.overdue", f"item:{item['id']}", data))
        for theme in rising:
            if "theme.rising" in hook.events and (not hook.areas or theme["product_area"] in
                                                   hook.areas):  # fmt: skip
                data = {"theme": {k: theme[k] for k in ("id", "product_area", "type", "title",
                                                        "count", "previous", "quote")}}  # fmt: skip
                rows.append(_row(hook, "theme.rising", f"theme:{theme['id']}:{stamp}", data))
    return rows
