"""The dashboard's reads and writes over the call store."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ceoline.insights.summary import SENTIMENTS, TYPES
from ceoline.insights.themes import title_for
from ceoline.store import Store, utc_now
from ceoline.voice.timings import STAGES, percentile

DUE_SOON = timedelta(hours=20)
OVERDUE = timedelta(hours=24)
MAX_SEARCH_TERMS = 12
MAX_ROWS = 500
TEAMS = ("product", "support", "billing", "engineering", "leadership")
_WORD = re.compile(r"\w+", re.UNICODE)


def search_expression(text: str) -> str | None:
    """An FTS5 MATCH expression: each word of TEXT as a quoted term, all required.

    Only word characters survive, so no FTS5 operator, column filter or quote from the
    user's input reaches MATCH; None when nothing searchable is left.
    """
    terms = _WORD.findall(text or "")[:MAX_SEARCH_TERMS]
    return " ".join(f'"{term}"' for term in terms) or None


def mask_caller(caller: str | None) -> str:
    """Keep only the last 3 characters of the caller's user part (and the host)."""
    if not caller:
        return ""
    scheme, sep, rest = caller.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        scheme, rest = "", caller
    user, at, host = rest.partition("@")
    user = user.split(";", 1)[0]
    masked = "•••" + user[-3:] if len(user) > 3 else "•••"
    return f"{scheme + ':' if scheme else ''}{masked}{at}{host}"


@dataclass(frozen=True)
class CallFilters:
    date_from: str = ""
    date_to: str = ""
    sentiment: str = ""
    escalated: str = ""
    area: str = ""
    q: str = ""
    line: str = ""

    @classmethod
    def parse(cls, params: Any, areas: dict, lines: tuple[str, ...] = ()) -> CallFilters:
        """Filters from query parameters; values that are not allowed are dropped.
        ``lines``: the [[lines]] names a call may be filtered by."""

        def day(value: str) -> str:
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                return ""

        return cls(
            date_from=day(params.get("from", "")),
            date_to=day(params.get("to", "")),
            sentiment=params.get("sentiment", "") if params.get("sentiment") in SENTIMENTS else "",
            escalated=params.get("escalated", "")
            if params.get("escalated") in ("yes", "no")
            else "",
            area=params.get("area", "") if params.get("area") in areas else "",
            q=str(params.get("q", ""))[:200],
            line=params.get("line", "") if params.get("line") in lines else "",
        )


_CALL_ROWS = """
SELECT c.id, c.line, c.started_at, c.ended_at, c.duration_s, c.end_reason,
       COALESCE(c.caller_uri, c.caller, '') AS caller,
       (SELECT CASE MIN(CASE fi.sentiment WHEN 'negative' THEN 0 WHEN 'neutral' THEN 1
                                          WHEN 'positive' THEN 2 END)
               WHEN 0 THEN 'negative' WHEN 1 THEN 'neutral' WHEN 2 THEN 'positive' END
          FROM feedback_items fi WHERE fi.call_id = c.id) AS sentiment,
       EXISTS (SELECT 1 FROM escalations e WHERE e.call_id = c.id) AS escalated,
       (SELECT COUNT(*) FROM feedback_items fi WHERE fi.call_id = c.id) AS items,
       (SELECT COUNT(*) FROM feedback_items fi
          WHERE fi.call_id = c.id AND fi.reviewed_at IS NULL) AS unreviewed,
       ci.summary
  FROM calls c LEFT JOIN call_insights ci ON ci.call_id = c.id
"""


def list_calls(store: Store, filters: CallFilters, limit: int = MAX_ROWS) -> list[dict]:
    clauses, params = [], []
    if filters.date_from:
        clauses.append("started_at >= ?")
        params.append(filters.date_from)
    if filters.date_to:
        clauses.append("started_at < date(?, '+1 day')")
        params.append(filters.date_to)
    if filters.sentiment:
        clauses.append("sentiment = ?")
        params.append(filters.sentiment)
    if filters.escalated:
        clauses.append("escalated = ?")
        params.append(1 if filters.escalated == "yes" else 0)
    if filters.line:
        clauses.append("line = ?")
        params.append(filters.line)
    if filters.area:
        clauses.append(
            "EXISTS (SELECT 1 FROM feedback_items fi WHERE fi.call_id = r.id "
            "AND fi.product_area = ?)"
        )
        params.append(filters.area)
    expression = search_expression(filters.q)
    if expression:
        clauses.append(
            "id IN (SELECT t.call_id FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid "
            "WHERE turns_fts MATCH ?)"
        )
        params.append(expression)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with store.reading() as db:
        rows = list(
            db.query(
                f"SELECT * FROM ({_CALL_ROWS}) r {where} ORDER BY started_at DESC, id DESC LIMIT ?",
                [*params, limit],
            )
        )
    for row in rows:
        row["caller"] = mask_caller(row["caller"])
        row["escalated"] = bool(row["escalated"])
        row["reviewed"] = None if row["items"] == 0 else row["unreviewed"] == 0
    return rows


def call_detail(store: Store, call_id: str) -> dict | None:
    call = store.get_call(call_id)
    if call is None:
        return None
    call["caller"] = mask_caller(call.get("caller_uri") or call.get("caller"))
    call["items"] = items_for_call(store, call_id)
    return call


def _with_notes(db, items: list[dict]) -> list[dict]:
    for item in items:
        item["needs_followup"] = bool(item["needs_followup"])
        item["notes"] = list(
            db.query(
                "SELECT author, note, created_at FROM item_notes WHERE item_id = ? ORDER BY id",
                [item["id"]],
            )
        )
    return items


_ITEM_COLUMNS = (
    "fi.id, fi.call_id, fi.created_at, fi.type, fi.product_area, fi.sentiment, fi.urgency, "
    "fi.quote, fi.needs_followup, fi.method, fi.reviewed_at, fi.reviewed_by, fi.assigned_team, "
    # The language the quote is in: its call's.
    "(SELECT c.language FROM calls c WHERE c.id = fi.call_id) AS language"
)


def items_for_call(store: Store, call_id: str) -> list[dict]:
    with store.reading() as db:
        items = list(
            db.query(
                f"SELECT {_ITEM_COLUMNS} FROM feedback_items fi WHERE fi.call_id = ? "
                "ORDER BY fi.seq",
                [call_id],
            )
        )
        return _with_notes(db, items)


def review_queue(store: Store, now: datetime | None = None) -> list[dict]:
    """Unreviewed items, urgent ones first, then oldest first; each marked due soon (20 h) or
    overdue (24 h), with the turns around the caller's words."""
    now = now or datetime.now(UTC)
    with store.reading() as db:
        items = list(
            db.query(
                f"SELECT {_ITEM_COLUMNS} FROM feedback_items fi WHERE fi.reviewed_at IS NULL "
                "ORDER BY fi.urgency = 'high' DESC, fi.created_at, fi.id LIMIT ?",
                [MAX_ROWS],
            )
        )
        items = _with_notes(db, items)
        for item in items:
            item["context"] = _context(db, item["call_id"], item["quote"])
    for item in items:
        age = now - datetime.fromisoformat(item["created_at"])
        item["age_hours"] = age.total_seconds() / 3600
        item["status"] = "overdue" if age > OVERDUE else "due-soon" if age > DUE_SOON else ""
    return items


def _context(db, call_id: str, quote: str) -> list[dict]:
    """The caller turn that holds QUOTE, with the bot's turn before and after it."""
    probe = " ".join(quote.split())[:40].lower()
    turns = list(
        db.query("SELECT seq, role, text FROM turns WHERE call_id = ? ORDER BY seq", [call_id])
    )
    for n, turn in enumerate(turns):
        if turn["role"] == "caller" and probe and probe in " ".join(turn["text"].split()).lower():
            return turns[max(0, n - 1) : n + 2]
    return []


def item_call_id(store: Store, item_id: int) -> str | None:
    with store.reading() as db:
        row = db.execute("SELECT call_id FROM feedback_items WHERE id = ?", [item_id]).fetchone()
    return row[0] if row else None


def mark_reviewed(store: Store, item_id: int, user: str) -> None:
    with store.writing() as db:
        db.execute(
            "UPDATE feedback_items SET reviewed_at = ?, reviewed_by = ? "
            "WHERE id = ? AND reviewed_at IS NULL",
            [utc_now(), user, item_id],
        )


def assign_team(store: Store, item_id: int, team: str, user: str) -> None:
    with store.writing() as db:
        db.execute(
            "UPDATE feedback_items SET assigned_team = ?, assigned_by = ?, assigned_at = ? "
            "WHERE id = ?",
            [team, user, utc_now(), item_id],
        )


def add_note(store: Store, item_id: int, note: str, user: str) -> None:
    with store.writing() as db:
        db.execute(
            "INSERT INTO item_notes (item_id, author, note, created_at) VALUES (?, ?, ?, ?)",
            [item_id, user, note, utc_now()],
        )


def themes(store: Store, days: int = 14, today: date | None = None) -> dict[str, Any]:
    """Item counts per day of the last DAYS days, by product area and by type."""
    today = today or datetime.now(UTC).date()
    day_list = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    with store.reading() as db:
        rows = db.execute(
            "SELECT substr(c.started_at, 1, 10) AS day, fi.product_area, fi.type, COUNT(*) "
            "FROM feedback_items fi JOIN calls c ON c.id = fi.call_id "
            "WHERE c.started_at >= ? GROUP BY day, fi.product_area, fi.type",
            [day_list[0]],
        ).fetchall()
    by_area: dict[str, dict[str, int]] = {d: {} for d in day_list}
    by_type: dict[str, dict[str, int]] = {d: {} for d in day_list}
    for day, area, kind, count in rows:
        if day not in by_area:
            continue
        by_area[day][area] = by_area[day].get(area, 0) + count
        by_type[day][kind] = by_type[day].get(kind, 0) + count
    areas = sorted({a for counts in by_area.values() for a in counts})
    types = [t for t in TYPES if any(t in counts for counts in by_type.values())]
    types += sorted({t for counts in by_type.values() for t in counts} - set(types))
    return {
        "days": day_list,
        "by_area": by_area,
        "areas": areas,
        "by_type": by_type,
        "types": types,
    }


def latency(store: Store, last_calls: int) -> dict[str, Any]:
    """p50/p95 per stage over the caller turns of the last LAST_CALLS calls."""
    with store.reading() as db:
        rows = db.execute(
            "SELECT t.timings FROM turns t WHERE t.role = 'caller' AND t.call_id IN "
            "(SELECT id FROM calls ORDER BY started_at DESC, id DESC LIMIT ?)",
            [last_calls],
        ).fetchall()
    values: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for (raw,) in rows:
        try:
            timings = json.loads(raw or "{}")
        except ValueError:
            continue
        for stage in STAGES:
            value = timings.get(stage) if isinstance(timings, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[stage].append(float(value))
    stages = [
        {
            "stage": stage,
            "count": len(values[stage]),
            "p50": percentile(values[stage], 50),
            "p95": percentile(values[stage], 95),
        }
        for stage in STAGES
    ]
    return {"turns": len(rows), "stages": stages}


def export_items(store: Store) -> list[dict]:
    with store.reading() as db:
        items = list(
            db.query(
                f"SELECT {_ITEM_COLUMNS}, fi.assigned_by, fi.assigned_at FROM feedback_items fi "
                "ORDER BY fi.created_at, fi.id"
            )
        )
    for item in items:
        item["needs_followup"] = bool(item["needs_followup"])
    return items


def export_calls(store: Store, filters: CallFilters) -> list[dict]:
    rows = list_calls(store, filters, limit=1_000_000)
    return [{k: v for k, v in row.items() if k != "unreviewed"} for row in rows]


def _day_start(today: date, days_back: int) -> str:
    return (today - timedelta(days=days_back - 1)).isoformat()


def theme_list(
    store: Store,
    days: int = 7,
    today: date | None = None,
    per_area: int = 5,
    line: str | None = None,
) -> list[dict]:
    """Themes with items in the last DAYS days, those with urgent items first, then the most
    items first; at most PER_AREA per area. ``line``: counted and quoted from that line's
    calls only (a theme spans lines).

    Each: its title (a reviewer's, else its most central quote), items in the period and in
    the period before it, rising / falling / steady / new, first and last seen, and up to
    three quotes, urgent ones first.
    """
    today = today or datetime.now(UTC).date()
    start, before = _day_start(today, days), _day_start(today, 2 * days)
    on_line = (
        "AND fi.call_id IN (SELECT id FROM calls WHERE line = :line) " if line is not None else ""
    )
    with store.reading() as db:
        rows = list(
            db.query(
                "SELECT t.id, t.product_area, t.type, t.harm, t.title, t.titled_by, "
                "SUM(fi.created_at >= :start) AS count, "
                "SUM(fi.created_at >= :before AND fi.created_at < :start) AS previous, "
                "MIN(fi.created_at) AS first_seen, MAX(fi.created_at) AS last_seen, "
                "SUM(fi.urgency = 'high') AS urgent "
                "FROM themes t JOIN feedback_items fi ON fi.theme_id = t.id "
                f"WHERE t.merged_into IS NULL {on_line}GROUP BY t.id HAVING count > 0 "
                "ORDER BY urgent > 0 DESC, count DESC, last_seen DESC",
                {"start": start, "before": before, "line": line},
            )
        )
        for row in rows:
            row["quotes"] = [
                r[0]
                for r in db.execute(
                    f"SELECT quote FROM feedback_items fi WHERE theme_id = :theme {on_line}"
                    "ORDER BY urgency = 'high' DESC, created_at DESC LIMIT 20",
                    {"theme": row["id"], "line": line},
                ).fetchall()
            ]
    out, shown = [], {}
    for row in rows:
        if shown.get(row["product_area"], 0) >= per_area:
            continue
        shown[row["product_area"]] = shown.get(row["product_area"], 0) + 1
        row["name"] = row["title"] or title_for(row["quotes"])
        row["quotes"] = row["quotes"][:3]
        row["trend"] = (
            "new"
            if not row["previous"]
            else "rising"
            if row["count"] > row["previous"]
            else "falling"
            if row["count"] < row["previous"]
            else "steady"
        )
        out.append(row)
    return out


def theme_items(store: Store, theme_id: int) -> list[dict]:
    with store.reading() as db:
        return list(
            db.query(
                "SELECT fi.id, fi.call_id, fi.quote, fi.urgency, fi.created_at "
                "FROM feedback_items fi WHERE fi.theme_id = ? ORDER BY fi.created_at DESC",
                [theme_id],
            )
        )


def _live_theme(db, theme_id: int) -> bool:
    row = db.execute("SELECT merged_into FROM themes WHERE id = ?", [theme_id]).fetchone()
    return row is not None and row[0] is None


def rename_theme(store: Store, theme_id: int, title: str, user: str) -> bool:
    title = " ".join(title.split())[:120]
    with store.writing() as db:
        if not title or not _live_theme(db, theme_id):
            return False
        db.execute(
            "UPDATE themes SET title = ?, titled_by = ?, updated_at = ? WHERE id = ?",
            [title, user, utc_now(), theme_id],
        )
    return True


def merge_themes(store: Store, source: int, target: int, user: str) -> bool:
    """SOURCE's items join TARGET for good: new items then find them there."""
    with store.writing() as db:
        if source == target or not (_live_theme(db, source) and _live_theme(db, target)):
            return False
        db.execute("UPDATE feedback_items SET theme_id = ? WHERE theme_id = ?", [target, source])
        db.execute(
            "UPDATE themes SET merged_into = ?, titled_by = COALESCE(NULLIF(titled_by, ''), ?), "
            "updated_at = ? WHERE id = ?",
            [target, user, utc_now(), source],
        )
    return True


def split_theme(store: Store, theme_id: int, item_ids: list[int], title: str, user: str) -> int:
    """A new theme of ITEM_IDS (items of THEME_ID), named TITLE; its id, or 0 when nothing moved."""
    with store.writing() as db:
        if not _live_theme(db, theme_id):
            return 0
        if not item_ids:
            return 0
        row = db.execute(
            "SELECT product_area, type, harm FROM themes WHERE id = ?", [theme_id]
        ).fetchone()
        marks = ",".join("?" * len(item_ids))
        owned = [
            r[0]
            for r in db.execute(
                f"SELECT id FROM feedback_items WHERE theme_id = ? AND id IN ({marks})",
                [theme_id, *item_ids],
            ).fetchall()
        ]
        if not owned:
            return 0
        now = utc_now()
        title = " ".join(title.split())[:120]
        new_id = db.execute(
            "INSERT INTO themes (product_area, type, harm, title, titled_by, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [*row, title, user if title else "", now, now],
        ).lastrowid
        marks = ",".join("?" * len(owned))
        db.execute(
            f"UPDATE feedback_items SET theme_id = ? WHERE id IN ({marks})", [new_id, *owned]
        )
    return int(new_id)


def failing_deliveries(store: Store, limit: int = MAX_ROWS) -> list[dict]:
    """Webhook deliveries that failed at least once and are not delivered: the dead first."""
    with store.reading() as db:
        return list(
            db.query(
                "SELECT id, webhook, event_type, status, attempts, last_status, last_error, "
                "next_attempt_at, created_at FROM webhook_outbox WHERE status = 'dead' OR "
                "(status = 'pending' AND attempts > 0) ORDER BY status = 'dead' DESC, id DESC "
                "LIMIT ?",
                [limit],
            )
        )


def delivery_counts(store: Store) -> dict[str, int]:
    with store.reading() as db:
        return dict(
            db.execute("SELECT status, COUNT(*) FROM webhook_outbox GROUP BY status").fetchall()
        )
