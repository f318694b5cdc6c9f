"""The call store: SQLite in WAL mode, one transaction per turn.

``synchronous=FULL`` makes every committed turn survive a power cut, so a crash loses at most
the turn in flight. Schema changes are applied as numbered migrations recorded in the
``migrations`` table.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from ceoline.errors import StoreError
from ceoline.trust.redaction import redact, redact_json

log = logging.getLogger(__name__)

DB_NAME = "ceoline.db"


def _v1_calls_and_turns(db: sqlite_utils.Database) -> None:
    db["calls"].create(
        {
            "id": str,
            "source": str,
            "caller": str,
            "persona": str,
            "started_at": str,
            "ended_at": str,
            "duration_s": float,
            "end_reason": str,
        },
        pk="id",
        not_null={"source", "started_at"},
    )
    db["turns"].create(
        {
            "id": int,
            "call_id": str,
            "seq": int,
            "role": str,
            "text": str,
            "start_ms": int,
            "end_ms": int,
            "interrupted": int,
            "timings": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
        not_null={"call_id", "seq", "role", "text"},
    )
    db["turns"].create_index(["call_id", "seq"], unique=True)
    db["calls"].create_index(["started_at"])


def _v2_sip_calls_and_events(db: sqlite_utils.Database) -> None:
    calls = db["calls"]
    calls.add_column("sip_call_id", str)
    calls.add_column("caller_uri", str)
    calls.add_column("codec", str)
    calls.add_column("answered_at", str)
    calls.create_index(["sip_call_id"])
    db["call_events"].create(
        {
            "id": int,
            "call_id": str,
            "t_ms": int,
            "kind": str,
            "detail": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
        not_null={"call_id", "kind"},
    )
    db["call_events"].create_index(["call_id", "id"])


def _v3_escalations_and_callbacks(db: sqlite_utils.Database) -> None:
    db["escalations"].create(
        {
            "id": int,
            "call_id": str,
            "t_ms": int,
            "reason": str,
            "outcome": str,
            "detail": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
        not_null={"call_id", "reason", "outcome"},
    )
    db["escalations"].create_index(["call_id"])
    db["callback_requests"].create(
        {
            "id": int,
            "call_id": str,
            "caller": str,
            "message": str,
            "status": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
        not_null={"call_id", "message", "status"},
    )
    db["callback_requests"].create_index(["status", "created_at"])


def _v4_insights(db: sqlite_utils.Database) -> None:
    db["insight_jobs"].create(
        {
            "call_id": str,
            "status": str,  # pending, running, done
            "attempts": int,
            "error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="call_id",
        foreign_keys=[("call_id", "calls", "id")],
        not_null={"status"},
    )
    db["insight_jobs"].create_index(["status", "created_at"])
    db["call_insights"].create(
        {"call_id": str, "summary": str, "method": str, "created_at": str},
        pk="call_id",
        foreign_keys=[("call_id", "calls", "id")],
    )
    db["feedback_items"].create(
        {
            "id": int,
            "call_id": str,
            "seq": int,
            "type": str,
            "product_area": str,
            "sentiment": str,
            "urgency": str,
            "quote": str,
            "needs_followup": int,
            "method": str,
            "reviewed_at": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("call_id", "calls", "id")],
    )
    db["feedback_items"].create_index(["call_id", "seq"], unique=True)
    db["feedback_items"].create_index(["reviewed_at", "created_at"])


def _v5_dashboard(db: sqlite_utils.Database) -> None:
    db["users"].create(
        {"name": str, "password_hash": str, "role": str, "created_at": str},
        pk="name",
        not_null={"password_hash", "role"},
    )
    # Only a hash of each session token is kept, so a copy of the database opens no session.
    db["web_sessions"].create(
        {
            "token_hash": str,
            "user_name": str,
            "csrf_token": str,
            "ip": str,
            "created_at": str,
            "expires_at": str,
        },
        pk="token_hash",
        foreign_keys=[("user_name", "users", "name")],
        not_null={"user_name", "csrf_token", "expires_at"},
    )
    db["web_sessions"].create_index(["expires_at"])
    db["login_failures"].create(
        {"id": int, "name": str, "ip": str, "at": str}, pk="id", not_null={"name", "ip", "at"}
    )
    db["login_failures"].create_index(["name", "ip", "at"])
    db["audit_log"].create(
        {"id": int, "at": str, "user_name": str, "action": str, "target": str, "ip": str},
        pk="id",
        not_null={"at", "action"},
    )
    db["audit_log"].create_index(["at"])
    items = db["feedback_items"]
    items.add_column("reviewed_by", str)
    items.add_column("assigned_team", str)
    items.add_column("assigned_by", str)
    items.add_column("assigned_at", str)
    # No foreign key: save_insights replaces a call's items, and notes must not block that.
    db["item_notes"].create(
        {"id": int, "item_id": int, "author": str, "note": str, "created_at": str},
        pk="id",
        not_null={"item_id", "note"},
    )
    db["item_notes"].create_index(["item_id", "id"])
    db.execute(
        "CREATE VIRTUAL TABLE turns_fts USING fts5(text, content='turns', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute(
        "CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN "
        "INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute(
        "CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN "
        "INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    db.execute(
        "CREATE TRIGGER turns_fts_update AFTER UPDATE OF text ON turns BEGIN "
        "INSERT INTO turns_fts (turns_fts, rowid, text) VALUES ('delete', old.id, old.text); "
        "INSERT INTO turns_fts (rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute("INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')")


def _v6_owners_and_audit_detail(db: sqlite_utils.Database) -> None:
    calls = db["calls"]
    # Which box and process wrote the call: a call left open by a process that no longer
    # runs was cut short by a crash, one whose process runs is live.
    calls.add_column("box", str)
    calls.add_column("worker", str)
    calls.add_column("owner", str)
    calls.create_index(["ended_at"])
    # Counts for purges and erasures; never the text that was deleted.
    db["audit_log"].add_column("detail", str)


def _v7_understood_turns(db: sqlite_utils.Database) -> None:
    # What the hotline took a caller's words as, where that differs from what was heard (a
    # misheard company name put right); the heard text stays in `text`.
    db["turns"].add_column("understood", str)


def _v8_themes(db: sqlite_utils.Database) -> None:
    # A theme's title is worked out from its items at read time until a reviewer names it
    # (`title`, `titled_by`); a merged theme keeps its row, pointing at where its items went.
    db["themes"].create(
        {
            "id": int,
            "product_area": str,
            "type": str,
            "harm": str,
            "title": str,
            "titled_by": str,
            "merged_into": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"product_area", "type", "created_at"},
    )
    db["feedback_items"].add_column("theme_id", int)
    db["feedback_items"].create_index(["theme_id"])


def _v9_webhook_outbox(db: sqlite_utils.Database) -> None:
    # One row per event and destination, written in the transaction that makes the event
    # true; `msg_id` stays the same on every attempt so a receiver can drop duplicates.
    db["webhook_outbox"].create(
        {
            "id": int,
            "webhook": str,
            "event_type": str,
            "msg_id": str,
            "body": str,
            "status": str,  # pending, delivered, dead
            "attempts": int,
            "next_attempt_at": str,
            "last_status": int,
            "last_error": str,
            "created_at": str,
            "delivered_at": str,
        },
        pk="id",
        not_null={"webhook", "event_type", "msg_id", "body", "status", "created_at"},
    )
    db["webhook_outbox"].create_index(["status", "next_attempt_at"])
    db["webhook_outbox"].create_index(["msg_id", "webhook"], unique=True)


def _v10_lines(db: sqlite_utils.Database) -> None:
    # The line (dialed number) a call came in on. Calls from before lines existed were all
    # the single line's, "main".
    db["calls"].add_column("line", str, not_null_default="main")
    db["calls"].create_index(["line", "started_at"])


def _v11_call_language(db: sqlite_utils.Database) -> None:
    # The language the caller spoke (their line's), so product teams know a quote is not in
    # English. Calls from before were all English.
    db["calls"].add_column("language", str, not_null_default="en")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_calls_and_turns", _v1_calls_and_turns),
    ("0002_sip_calls_and_events", _v2_sip_calls_and_events),
    ("0003_escalations_and_callbacks", _v3_escalations_and_callbacks),
    ("0004_insights", _v4_insights),
    ("0005_dashboard", _v5_dashboard),
    ("0006_owners_and_audit_detail", _v6_owners_and_audit_detail),
    ("0007_understood_turns", _v7_understood_turns),
    ("0008_themes", _v8_themes),
    ("0009_webhook_outbox", _v9_webhook_outbox),
    ("0010_lines", _v10_lines),
    ("0011_call_language", _v11_call_language),
]

CRASHED = "crashed"
# The call event that says a caller turn (starting at its t_ms) was a question the notes
# answered on the call: the insights file no follow-up for it.
ANSWERED_EVENT = "answered_from_notes"


def caller_address(uri: str) -> str:
    """``"Ann" <sip:1001@pbx;transport=udp>`` → ``1001@pbx``: a short name for lists."""
    inner = uri.split("<", 1)[1].split(">", 1)[0] if "<" in uri else uri
    inner = inner.split(":", 1)[1] if inner.startswith(("sip:", "sips:", "tel:")) else inner
    return inner.split(";", 1)[0].strip()[:120]


def process_token(pid: int) -> str | None:
    """``host:pid:start time`` from /proc: a pid the kernel hands out again is another
    process, and another host's pids are not this host's."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has exited; only its exit status is left
        return None
    return f"{socket.gethostname()}:{pid}:{fields[19]}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote a call still runs. Unknown owners (rows from before
    owners were recorded) count as gone; another host's processes cannot be checked here and
    count as alive, so only that host closes its calls."""
    if not owner or owner.count(":") != 2:
        return False
    host, pid, _ = owner.split(":")
    if host != socket.gethostname():
        return True
    return pid.isdigit() and process_token(int(pid)) == owner


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_call_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class TurnRecord:
    role: str
    text: str
    start_ms: int
    end_ms: int
    timings: dict[str, float]
    interrupted: bool = False
    # The caller's words as answered, when a heard name was put right; "" when as heard.
    understood: str = ""


class Store:
    def __init__(self, path: Path, worker: str = "", box: str = ""):
        self.path = path
        self.worker = worker
        self.box = box or socket.gethostname()
        self.owner = process_token(os.getpid())
        # Told of each commit (metrics); it must never fail a write.
        self.observer: Any = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            # Deleted rows are overwritten with zeros, not left in free pages (retention).
            conn.execute("PRAGMA secure_delete=ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the call store at {path} ({exc}); make [store] data_dir a "
                "writable directory"
            ) from None
        self.db = sqlite_utils.Database(conn)
        # The call loop writes from worker threads; one connection, one writer at a time.
        self._lock = threading.RLock()
        self._migrate()

    @classmethod
    def open(cls, data_dir: Path, worker: str = "", box: str = "") -> Store:
        return cls(data_dir / DB_NAME, worker, box)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    # -- migrations ------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            if "migrations" not in self.db.table_names():
                self.db["migrations"].create(
                    {"name": str, "applied_at": str}, pk="name", if_not_exists=True
                )
            applied = {row["name"] for row in self.db["migrations"].rows}
            for name, apply in MIGRATIONS:
                if name in applied:
                    continue
                with self._transaction():
                    apply(self.db)
                    self.db.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        [name, utc_now()],
                    )

    def _notify(self, hook: str, *args: Any) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, hook)(*args)
        except Exception:
            log.exception("store observer %s failed", hook)

    def applied_migrations(self) -> list[str]:
        return [row["name"] for row in self.db["migrations"].rows_where(order_by="name")]

    def _transaction(self):
        return _Transaction(self.db.conn)

    # -- writes ----------------------------------------------------------------------------

    def create_call(
        self,
        source: str,
        caller: str,
        persona: str,
        *,
        sip_call_id: str | None = None,
        caller_uri: str | None = None,
        line: str = "main",
        language: str = "en",
    ) -> str:
        call_id = new_call_id()
        with self._lock, self._transaction():
            self.db.execute(
                "INSERT INTO calls (id, source, caller, persona, started_at, sip_call_id, "
                "caller_uri, box, worker, owner, line, language) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    call_id,
                    source,
                    caller,
                    persona,
                    utc_now(),
                    sip_call_id,
                    caller_uri,
                    self.box,
                    self.worker,
                    self.owner,
                    line,
                    language,
                ],
            )
        return call_id

    def mark_answered(self, call_id: str, codec: str) -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE calls SET answered_at = ?, codec = ? WHERE id = ?",
                [utc_now(), codec, call_id],
            )

    def add_event(self, call_id: str, kind: str, detail: str = "", t_ms: int | None = None) -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "INSERT INTO call_events (call_id, t_ms, kind, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [call_id, t_ms, kind, detail, utc_now()],
            )
        self._notify("event", kind, detail)

    def add_turn(self, call_id: str, turn: TurnRecord) -> int:
        # Personal data is replaced by typed placeholders here, so raw text never reaches disk.
        text = redact(turn.text).text
        understood = redact(turn.understood).text if turn.understood else None
        with self._lock, self._transaction():
            seq = self.db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE call_id = ?", [call_id]
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO turns (call_id, seq, role, text, understood, start_ms, end_ms, "
                "interrupted, timings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    call_id,
                    seq,
                    turn.role,
                    text,
                    understood,
                    turn.start_ms,
                    turn.end_ms,
                    int(turn.interrupted),
                    json.dumps(turn.timings),
                    utc_now(),
                ],
            )
        self._notify("turn_added", call_id, seq, turn.role, turn.timings)
        return seq

    def update_turn_timings(self, call_id: str, seq: int, timings: dict[str, Any]) -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE turns SET timings = ? WHERE call_id = ? AND seq = ?",
                [json.dumps(timings), call_id, seq],
            )
        self._notify("turn_timings", call_id, seq, timings)

    def end_call(self, call_id: str, end_reason: str, duration_s: float) -> None:
        """Close the call and queue its insights, in one transaction: no call ends without."""
        with self._lock, self._transaction():
            now = utc_now()
            self.db.execute(
                "UPDATE calls SET ended_at = ?, end_reason = ?, duration_s = ? WHERE id = ?",
                [now, end_reason, round(duration_s, 3), call_id],
            )
            self.db.execute(
                "INSERT OR IGNORE INTO insight_jobs (call_id, status, attempts, error, "
                "created_at, updated_at) VALUES (?, 'pending', 0, '', ?, ?)",
                [call_id, now, now],
            )
            line = self.db.execute("SELECT line FROM calls WHERE id = ?", [call_id]).fetchone()
        self._notify("call_ended", call_id, end_reason, line[0] if line else "main")

    def close_crashed_calls(self) -> list[str]:
        """Calls whose process died mid-call are closed as ``crashed``, ended at their last
        stored moment, and their insights queued: one transaction, so a crash during the
        recovery itself leaves every call as it was."""
        with self._lock, self._transaction():
            open_calls = self.db.execute(
                "SELECT id, owner, line FROM calls WHERE ended_at IS NULL"
            ).fetchall()
            crashed = [cid for cid, owner, _ in open_calls if not owner_alive(owner)]
            lines = {cid: line for cid, _, line in open_calls}
            now = utc_now()
            for call_id in crashed:
                last = self.db.execute(
                    "SELECT MAX(m) FROM (SELECT started_at AS m FROM calls WHERE id = :id "
                    "UNION ALL SELECT answered_at FROM calls WHERE id = :id "
                    "UNION ALL SELECT MAX(created_at) FROM turns WHERE call_id = :id "
                    "UNION ALL SELECT MAX(created_at) FROM call_events WHERE call_id = :id "
                    "UNION ALL SELECT MAX(updated_at) FROM escalations WHERE call_id = :id)",
                    {"id": call_id},
                ).fetchone()[0]
                self.db.execute(
                    "UPDATE calls SET ended_at = :last, end_reason = :reason, duration_s = "
                    "ROUND(MAX(0, (julianday(:last) - julianday(COALESCE(answered_at, "
                    "started_at))) * 86400), 3) WHERE id = :id",
                    {"last": last, "reason": CRASHED, "id": call_id},
                )
                self.db.execute(
                    "INSERT OR IGNORE INTO insight_jobs (call_id, status, attempts, error, "
                    "created_at, updated_at) VALUES (?, 'pending', 0, '', ?, ?)",
                    [call_id, now, now],
                )
        for call_id in crashed:
            self._notify("call_ended", call_id, CRASHED, lines[call_id])
        return crashed

    # -- insights --------------------------------------------------------------------------

    def claim_insight_job(self) -> str | None:
        """The oldest pending job, marked running; None when there is nothing to do."""
        with self._lock, self._transaction():
            row = self.db.execute(
                "SELECT call_id FROM insight_jobs WHERE status = 'pending' "
                "ORDER BY created_at LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE insight_jobs SET status = 'running', attempts = attempts + 1, "
                "updated_at = ? WHERE call_id = ?",
                [utc_now(), row[0]],
            )
            return row[0]

    def requeue_running_jobs(self) -> int:
        """Jobs a stopped or killed worker left running go back to the queue."""
        with self._lock, self._transaction():
            cursor = self.db.execute(
                "UPDATE insight_jobs SET status = 'pending', updated_at = ? "
                "WHERE status = 'running'",
                [utc_now()],
            )
            return cursor.rowcount

    def fail_insight_job(self, call_id: str, error: str) -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE insight_jobs SET status = 'pending', error = ?, updated_at = ? "
                "WHERE call_id = ?",
                [error[:500], utc_now(), call_id],
            )

    def save_insights(
        self, call_id: str, insights: dict, outbox: Callable[[dict], list[dict]] | None = None
    ) -> None:
        """Summary and items replace any earlier ones, and the job is done, atomically.

        ``outbox`` turns the stored insights (redacted, items with their ids) into webhook
        deliveries (``webhook``, ``event_type``, ``msg_id``, ``body``), written in the same
        transaction: an event is sent if and only if what it reports was stored.
        """
        insights = redact_json(insights)
        with self._lock, self._transaction():
            now = utc_now()
            self.db.execute("DELETE FROM feedback_items WHERE call_id = ?", [call_id])
            self.db.execute(
                "INSERT OR REPLACE INTO call_insights (call_id, summary, method, created_at) "
                "VALUES (?, ?, ?, ?)",
                [call_id, insights["summary"], insights["summary_method"], now],
            )
            for seq, item in enumerate(insights["items"]):
                self.db.execute(
                    "INSERT INTO feedback_items (call_id, seq, type, product_area, sentiment, "
                    "urgency, quote, needs_followup, method, created_at, theme_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        call_id,
                        seq,
                        item["type"],
                        item["product_area"],
                        item["sentiment"],
                        item["urgency"],
                        item["quote"],
                        int(item["needs_followup"]),
                        item["method"],
                        now,
                        item.get("theme_id"),
                    ],
                )
            self.db.execute(
                "UPDATE insight_jobs SET status = 'done', error = '', updated_at = ? "
                "WHERE call_id = ?",
                [now, call_id],
            )
            if outbox is not None:
                ids = [
                    r[0]
                    for r in self.db.execute(
                        "SELECT id FROM feedback_items WHERE call_id = ? ORDER BY seq", [call_id]
                    ).fetchall()
                ]
                line, language = self.db.execute(
                    "SELECT line, language FROM calls WHERE id = ?", [call_id]
                ).fetchone() or ("main", "en")
                stored = {
                    **insights,
                    "call_id": call_id,
                    "line": line,
                    "language": language,
                    "items": [
                        {**item, "id": item_id}
                        for item, item_id in zip(insights["items"], ids, strict=True)
                    ],
                }
                for row in outbox(stored):
                    self._add_delivery(row, now)

    def _add_delivery(self, row: dict, now: str) -> int:
        return self.db.execute(
            "INSERT OR IGNORE INTO webhook_outbox (webhook, event_type, msg_id, body, status, "
            "attempts, next_attempt_at, last_error, created_at) "
            "VALUES (?, ?, ?, ?, 'pending', 0, ?, '', ?)",
            [row["webhook"], row["event_type"], row["msg_id"], row["body"], now, now],
        ).rowcount

    def add_deliveries(self, rows: list[dict]) -> int:
        """Queue deliveries; one already queued (same message, same destination) is skipped.
        Returns how many were new."""
        with self._lock, self._transaction():
            now = utc_now()
            return sum(self._add_delivery(row, now) for row in rows)

    def due_deliveries(self, now: str, limit: int = 20, ignore_clock: bool = False) -> list[dict]:
        with self._lock:
            clock = "" if ignore_clock else "AND next_attempt_at <= ? "
            params = [] if ignore_clock else [now]
            return list(
                self.db.query(
                    "SELECT * FROM webhook_outbox WHERE status = 'pending' "
                    f"{clock}ORDER BY next_attempt_at, id LIMIT ?",
                    [*params, limit],
                )
            )

    def delivery_done(self, delivery_id: int, status: int) -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, "
                "last_status = ?, last_error = '', delivered_at = ? WHERE id = ?",
                [status, utc_now(), delivery_id],
            )

    def delivery_failed(
        self, delivery_id: int, status: int | None, error: str, next_at: str | None
    ) -> None:
        """Another attempt at NEXT_AT, or (None) a dead letter, with the reason; no payload."""
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_status = ?, "
                "last_error = ?, status = ?, next_attempt_at = COALESCE(?, next_attempt_at) "
                "WHERE id = ?",
                [status, error[:300], "pending" if next_at else "dead", next_at, delivery_id],
            )
            if next_at is None:
                row = self.db.execute(
                    "SELECT webhook, event_type FROM webhook_outbox WHERE id = ?", [delivery_id]
                ).fetchone()
                audit_system(
                    self.db,
                    "webhook.dead",
                    f"delivery {delivery_id} to {row[0]}",
                    f"{row[1]}: {error[:200]}",
                )

    def retry_delivery(self, delivery_id: int) -> bool:
        with self._lock, self._transaction():
            cursor = self.db.execute(
                "UPDATE webhook_outbox SET status = 'pending', next_attempt_at = ? "
                "WHERE id = ? AND status IN ('pending', 'dead')",
                [utc_now(), delivery_id],
            )
            return cursor.rowcount > 0

    def deliveries(self, limit: int = 100, status: str = "") -> list[dict]:
        with self._lock:
            where = "WHERE status = ? " if status else ""
            return list(
                self.db.query(
                    "SELECT id, webhook, event_type, msg_id, status, attempts, next_attempt_at, "
                    f"last_status, last_error, created_at, delivered_at FROM webhook_outbox {where}"
                    "ORDER BY id DESC LIMIT ?",
                    [status, limit] if status else [limit],
                )
            )

    def insight_job_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(
                self.db.execute(
                    "SELECT status, COUNT(*) FROM insight_jobs GROUP BY status"
                ).fetchall()
            )

    def add_escalation(self, call_id: str, t_ms: int, reason: str, outcome: str) -> int:
        with self._lock, self._transaction():
            now = utc_now()
            cursor = self.db.execute(
                "INSERT INTO escalations (call_id, t_ms, reason, outcome, detail, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, '', ?, ?)",
                [call_id, t_ms, reason, outcome, now, now],
            )
        self._notify("escalation", outcome)
        return cursor.lastrowid

    def update_escalation(self, escalation_id: int, outcome: str, detail: str = "") -> None:
        with self._lock, self._transaction():
            self.db.execute(
                "UPDATE escalations SET outcome = ?, detail = ?, updated_at = ? WHERE id = ?",
                [outcome, detail, utc_now(), escalation_id],
            )
        self._notify("escalation", outcome)

    def create_theme(self, product_area: str, kind: str, harm: str = "") -> int:
        with self._lock, self._transaction():
            now = utc_now()
            cursor = self.db.execute(
                "INSERT INTO themes (product_area, type, harm, title, titled_by, created_at, "
                "updated_at) VALUES (?, ?, ?, '', '', ?, ?)",
                [product_area, kind, harm, now, now],
            )
            return int(cursor.lastrowid)

    def themed_items(self, since: str) -> list[dict[str, Any]]:
        """Items since SINCE that belong to a theme: what a new item may join."""
        with self._lock:
            return list(
                self.db.query(
                    "SELECT id, theme_id, type, product_area, sentiment, urgency, quote "
                    "FROM feedback_items WHERE theme_id IS NOT NULL AND created_at >= ? "
                    "ORDER BY id",
                    [since],
                )
            )

    def add_callback_request(self, call_id: str, message: str) -> int:
        message = redact(message).text
        with self._lock, self._transaction():
            caller = self.db.execute(
                "SELECT COALESCE(caller_uri, caller, '') FROM calls WHERE id = ?", [call_id]
            ).fetchone()
            cursor = self.db.execute(
                "INSERT INTO callback_requests (call_id, caller, message, status, created_at) "
                "VALUES (?, ?, ?, 'open', ?)",
                [call_id, caller[0] if caller else "", message, utc_now()],
            )
            return cursor.lastrowid

    # -- reads -----------------------------------------------------------------------------

    def list_calls(self, limit: int = 50, line: str | None = None) -> list[dict[str, Any]]:
        """The latest calls, newest first; ``line``: only that line's."""
        where, params = ("WHERE c.line = ? ", [line]) if line is not None else ("", [])
        with self._lock:
            return list(
                self.db.query(
                    "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.call_id = c.id) AS turns "
                    f"FROM calls c {where}ORDER BY c.started_at DESC, c.id DESC LIMIT ?",
                    [*params, limit],
                )
            )

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM calls WHERE id = ?", [call_id]))
            if not rows:
                return None
            call = rows[0]
            summary = self.db.execute(
                "SELECT summary, method FROM call_insights WHERE call_id = ?", [call_id]
            ).fetchone()
            call["summary"] = summary[0] if summary else None
            call["summary_method"] = summary[1] if summary else None
            call["items"] = [
                {**item, "needs_followup": bool(item["needs_followup"])}
                for item in self.db.query(
                    "SELECT type, product_area, sentiment, urgency, quote, needs_followup, "
                    "method, reviewed_at FROM feedback_items WHERE call_id = ? ORDER BY seq",
                    [call_id],
                )
            ]
            call["escalations"] = list(
                self.db.query(
                    "SELECT t_ms, reason, outcome, detail, created_at, updated_at "
                    "FROM escalations WHERE call_id = ? ORDER BY id",
                    [call_id],
                )
            )
            call["callback_requests"] = list(
                self.db.query(
                    "SELECT message, status, created_at FROM callback_requests "
                    "WHERE call_id = ? ORDER BY id",
                    [call_id],
                )
            )
            call["events"] = list(
                self.db.query(
                    "SELECT t_ms, kind, detail, created_at FROM call_events WHERE call_id = ? "
                    "ORDER BY id",
                    [call_id],
                )
            )
            call["turns"] = [
                {
                    **t,
                    "interrupted": bool(t["interrupted"]),
                    "timings": json.loads(t["timings"] or "{}"),
                }
                for t in self.db.query(
                    "SELECT role, text, understood, start_ms, end_ms, interrupted, timings, "
                    "created_at FROM turns WHERE call_id = ? ORDER BY start_ms, seq",
                    [call_id],
                )
            ]
        return call

    # -- for readers and writers outside this class (the dashboard) --------------------------

    @contextmanager
    def reading(self) -> Iterator[sqlite_utils.Database]:
        """The database, with this store's connection held for the duration."""
        with self._lock:
            yield self.db

    @contextmanager
    def writing(self) -> Iterator[sqlite_utils.Database]:
        """The database inside one BEGIN IMMEDIATE transaction, rolled back on error."""
        with self._lock, self._transaction():
            yield self.db


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so no half-written row remains."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False


def audit_system(db, action: str, target: str, detail: str, at: str | None = None) -> None:
    """An audit row written by the system itself (no user, no address), inside the caller's
    transaction."""
    db.execute(
        "INSERT INTO audit_log (at, user_name, action, target, ip, detail) "
        "VALUES (?, NULL, ?, ?, '', ?)",
        [at or utc_now(), action, target, detail],
    )
