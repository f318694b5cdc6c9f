"""Which destinations get which events, and the stored form of each event.

An event is stored once per destination as Standard Webhooks' body, ``{"type", "timestamp",
"data"}``, from the redacted insights; the destination's format is rendered from it at send
time. The message id is derived from what the event is about (the item, the call), so the
same event queued twice is one message, and a receiver drops repeats by it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from ceoline.config import Config, WebhookConfig

_URGENCY = {"low": 0, "normal": 1, "high": 2}


def wanted(hook: WebhookConfig, event_type: str, item: dict | None = None) -> bool:
    if event_type not in hook.events:
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
        call_id = stored["call_id"]
        link = dashboard_link(config, call_id)
        out = []
        for hook in config.webhooks:
            for item in stored["items"]:
                if wanted(hook, "item.created", item):
                    data = {
                        "call_id": call_id,
                        "link": link,
                        "item": {
                            key: item[key]
                            for key in ("id", "type", "product_area", "sentiment", "urgency",
                                        "needs_followup", "quote")
                        },
                    }  # fmt: skip
                    out.append(_row(hook, "item.created", f"item:{item['id']}", data))
            if wanted(hook, "call.summarised"):
                data = {
                    "call_id": call_id,
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
