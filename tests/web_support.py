"""Calls seeded through the Store's own methods, and a logged-in dashboard client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ceoline.store import Store, TurnRecord
from ceoline.web import auth

PASSWORD = "correct horse battery"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def _insights(summary: str, items: list[tuple[str, str, str, str, str]]) -> dict:
    return {
        "summary": summary,
        "summary_method": "rules",
        "items": [
            {
                "type": kind,
                "product_area": area,
                "sentiment": sentiment,
                "urgency": urgency,
                "quote": quote,
                "needs_followup": kind == "complaint",
                "method": "rules",
            }
            for kind, area, sentiment, urgency, quote in items
        ],
    }


def seed_calls(store: Store) -> dict[str, str]:
    """Three real-looking calls; returns their ids by name."""
    ids = {}
    ids["invoices"] = store.create_call(
        "sip",
        "+15551234567",
        "Theo",
        sip_call_id="a84b4c76e66710",
        caller_uri="sip:+15551234567@10.20.0.5",
    )
    for turn in (
        TurnRecord("bot", "Hi, you're talking to an AI assistant for Theo.", 0, 2400, {}),
        TurnRecord(
            "caller",
            "My invoice reminders went out twice to the same client this morning.",
            3000,
            6200,
            {
                "endpoint": 480.0,
                "stt": 210.0,
                "llm_first_token": 390.0,
                "tts_first_audio": 120.0,
                "response": 1250.0,
            },
        ),
        TurnRecord(
            "bot", "I'm sorry about that. I'll pass it to the invoicing team.", 7400, 10100, {}
        ),
        TurnRecord(
            "caller",
            "Also the card fees on payouts feel expensive.",
            11000,
            13500,
            {
                "endpoint": 520.0,
                "stt": 230.0,
                "llm_first_token": 410.0,
                "tts_first_audio": 140.0,
                "response": 1390.0,
            },
        ),
    ):
        store.add_turn(ids["invoices"], turn)
    store.end_call(ids["invoices"], "caller_hangup", 15.2)
    store.save_insights(
        ids["invoices"],
        _insights(
            "Caller reports duplicate invoice reminders and finds payout card fees expensive.",
            [
                (
                    "complaint",
                    "invoices",
                    "negative",
                    "high",
                    "My invoice reminders went out twice to the same client this morning.",
                ),
                (
                    "complaint",
                    "payments",
                    "negative",
                    "normal",
                    "Also the card fees on payouts feel expensive.",
                ),
            ],
        ),
    )
    store.add_escalation(ids["invoices"], 9000, "asked_for_person", "message_taken")
    store.add_callback_request(ids["invoices"], "Please call back about the duplicate reminders.")

    ids["praise"] = store.create_call("simulated", "alice@example.com", "Theo")
    store.add_turn(ids["praise"], TurnRecord("bot", "Hi, you're talking to an AI.", 0, 2000, {}))
    store.add_turn(
        ids["praise"],
        TurnRecord(
            "caller",
            "The mobile app is lovely, thanks for the dark mode.",
            2500,
            5200,
            {"endpoint": 450.0, "stt": 190.0, "response": 1100.0},
        ),
    )
    store.end_call(ids["praise"], "caller_hangup", 8.0)
    store.save_insights(
        ids["praise"],
        _insights(
            "Caller praises the mobile app's dark mode.",
            [
                (
                    "praise",
                    "mobile_app",
                    "positive",
                    "low",
                    "The mobile app is lovely, thanks for the dark mode.",
                )
            ],
        ),
    )

    ids["xss"] = store.create_call("simulated", XSS_ATTRIBUTE, "Theo")
    store.add_turn(ids["xss"], TurnRecord("caller", f"Hello {XSS_SCRIPT} there", 0, 2000, {}))
    store.add_turn(ids["xss"], TurnRecord("caller", f"and {XSS_ATTRIBUTE} too", 2500, 4000, {}))
    store.end_call(ids["xss"], "caller_hangup", 4.5)
    store.save_insights(
        ids["xss"],
        _insights(
            f"Summary {XSS_SCRIPT}",
            [("question", "other", "neutral", "low", f"and {XSS_ATTRIBUTE} too")],
        ),
    )
    return ids


def age_items(store: Store, call_id: str, hours: float) -> None:
    """Make a call's items look HOURS old."""
    when = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="milliseconds")
    with store.writing() as db:
        db.execute("UPDATE feedback_items SET created_at = ? WHERE call_id = ?", [when, call_id])


def add_users(store: Store) -> None:
    auth.add_user(store, "rita", PASSWORD, "reviewer")
    auth.add_user(store, "ada", PASSWORD, "admin")
    auth.add_user(store, "carl", PASSWORD, "compliance")


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def log_in(client, name: str, password: str = PASSWORD):
    token = csrf_from(client.get("/login").text)
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def group_themes(store: Store) -> list[int]:
    """Put every stored item without a theme into one, as the insights worker does."""
    from ceoline.insights.labels import Item
    from ceoline.insights.themes import assign

    rows = list(
        store.db.query(
            "SELECT id, type, product_area, sentiment, urgency, quote FROM feedback_items "
            "WHERE theme_id IS NULL ORDER BY id"
        )
    )
    items = [
        Item(r["type"], r["product_area"], r["sentiment"], r["urgency"], r["quote"], False, "")
        for r in rows
    ]
    chosen = assign(store, items, "2000-01-01")
    with store.writing() as db:
        for row, theme_id in zip(rows, chosen, strict=True):
            db.execute("UPDATE feedback_items SET theme_id = ? WHERE id = ?", [theme_id, row["id"]])
    return chosen
