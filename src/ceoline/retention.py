"""Retention and erasure: calls past ``[retention] days`` or named in a request are deleted
with everything derived from them, and the deleted text is gone from the files.

A call's rows are its turns (and their full-text index entries), events, escalations,
callback requests, summary, feedback items and the notes on them, and its insights job.
Deleting rows is not enough to prove the text is gone: SQLite leaves freed pages, the FTS5
index keeps deleted terms in its segments until they merge, and the write-ahead log keeps
page images until a checkpoint. So every deletion runs with ``secure_delete`` (the store
sets it), the FTS index is merged (``optimize``), the WAL is checkpointed and truncated, and
the file is rebuilt with ``VACUUM``. Each purge and erasure writes one audit row: who, when,
how many rows of each kind, and the ids of the calls, never their text.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ceoline.errors import StoreError
from ceoline.store import Store, caller_address, owner_alive, utc_now

# Children first: each table's rows reference the ones after it.
_DERIVED = (
    ("item_notes", "item_id IN (SELECT id FROM feedback_items WHERE call_id IN ({ids}))"),
    ("feedback_items", "call_id IN ({ids})"),
    ("call_insights", "call_id IN ({ids})"),
    ("insight_jobs", "call_id IN ({ids})"),
    ("escalations", "call_id IN ({ids})"),
    ("callback_requests", "call_id IN ({ids})"),
    ("call_events", "call_id IN ({ids})"),
    ("turns", "call_id IN ({ids})"),
    ("calls", "id IN ({ids})"),
)

# What a person reads first: the words, then what was made of them.
_SHOWN = (
    "turns",
    "call_events",
    "escalations",
    "callback_requests",
    "call_insights",
    "feedback_items",
    "item_notes",
    "insight_jobs",
)


@dataclass(frozen=True)
class Deletion:
    """What one purge or erasure removed (or, for a dry run, would remove)."""

    action: str
    call_ids: tuple[str, ...]
    rows: dict[str, int] = field(default_factory=dict)
    cutoff: str = ""
    dry_run: bool = False
    wal_truncated: bool = True

    @property
    def calls(self) -> int:
        return len(self.call_ids)

    def describe(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        kinds = ", ".join(f"{self.rows[table]} {table}" for table in _SHOWN if self.rows.get(table))
        text = f"{self.action}: {verb} {self.calls} calls" + (f" ({kinds})" if kinds else "")
        if self.cutoff:
            text += f", started before {self.cutoff}"
        return text


def expired_calls(store: Store, days: int, now: datetime | None = None) -> tuple[list[str], str]:
    """Ended calls that started more than ``days`` ago, and the cutoff used."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="milliseconds")
    with store.reading() as db:
        rows = db.execute(
            "SELECT id FROM calls WHERE started_at < ? AND ended_at IS NOT NULL ORDER BY id",
            [cutoff],
        ).fetchall()
    return [r[0] for r in rows], cutoff


def purge(
    store: Store, days: int, actor: str, *, dry_run: bool = False, now: datetime | None = None
) -> Deletion:
    """Delete every call past retention. Calls a crash left open are closed first, so they
    age out like the rest; a live call is never touched."""
    if not dry_run:
        store.close_crashed_calls()
    call_ids, cutoff = expired_calls(store, days, now)
    return _delete(store, "purge", call_ids, actor, dry_run=dry_run, cutoff=cutoff)


def erase_calls(store: Store, call_ids: list[str], actor: str, *, dry_run: bool = False):
    """Delete the named calls, all or none: an unknown or live call refuses the request."""
    with store.reading() as db:
        found = {
            row[0]: row
            for row in db.execute(
                f"SELECT id, ended_at, owner FROM calls WHERE id IN ({_marks(call_ids)})",
                call_ids,
            ).fetchall()
        }
    missing = [c for c in call_ids if c not in found]
    if missing:
        raise StoreError(
            f"no call {missing[0]} in the store, so nothing was deleted; "
            "`ceoline calls list` shows the ids"
        )
    live = [c for c in call_ids if found[c][1] is None and owner_alive(found[c][2])]
    if live:
        raise StoreError(
            f"call {live[0]} is still in progress, so nothing was deleted; erase it once it ends"
        )
    return _delete(store, "erase", sorted(set(call_ids)), actor, dry_run=dry_run)


def calls_of_caller(store: Store, caller: str) -> list[str]:
    """Every stored call from ``caller`` (a SIP URI, or the short address lists show)."""
    address = caller_address(caller)
    with store.reading() as db:
        rows = db.execute(
            "SELECT id, caller_uri, caller FROM calls WHERE caller_uri IS NOT NULL OR caller = ?",
            [address],
        ).fetchall()
    return sorted(
        cid
        for cid, uri, label in rows
        if (uri and caller_address(uri) == address) or label == address
    )


def erase_caller(store: Store, caller: str, actor: str, *, dry_run: bool = False) -> Deletion:
    call_ids = calls_of_caller(store, caller)
    if not call_ids:
        return Deletion("erase", (), {}, dry_run=dry_run)
    return erase_calls(store, call_ids, actor, dry_run=dry_run)


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


def _delete(
    store: Store, action: str, call_ids: list[str], actor: str, *, dry_run: bool, cutoff: str = ""
) -> Deletion:
    rows: dict[str, int] = {}
    # SQLite binds at most 32766 variables per statement: delete in batches, one transaction.
    batches = [call_ids[i : i + 500] for i in range(0, len(call_ids), 500)]
    with store.writing() as db:
        for table, where in _DERIVED:
            rows[table] = 0
            for batch in batches:
                clause = where.format(ids=_marks(batch))
                rows[table] += db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE {clause}", batch
                ).fetchone()[0]
                if not dry_run:
                    db.execute(f"DELETE FROM {table} WHERE {clause}", batch)
        if not dry_run and (call_ids or action == "purge"):
            detail = {"rows": rows, "call_ids": call_ids}
            if cutoff:
                detail["cutoff"] = cutoff
            db.execute(
                "INSERT INTO audit_log (at, user_name, action, target, ip, detail) "
                "VALUES (?, ?, ?, ?, '', ?)",
                [utc_now(), actor, action, f"{len(call_ids)} calls", json.dumps(detail)],
            )
    truncated = True
    if call_ids and not dry_run:
        truncated = scrub(store)
    return Deletion(action, tuple(call_ids), rows, cutoff, dry_run, truncated)


def scrub(store: Store) -> bool:
    """Make deleted text unreadable in the files: merge the FTS index, rebuild the file, and
    truncate the WAL. False when a reader in another process kept the WAL from truncating
    (the text is gone from the database file; the next scrub truncates it)."""
    with store.reading() as db:
        db.execute("INSERT INTO turns_fts (turns_fts) VALUES ('optimize')")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0


class DailyPurge:
    """The purge inside ``ceoline serve``: once at start, then every 24 hours. A purge waits
    while calls are live (its VACUUM holds the store for a moment), but never more than
    ``MAX_WAIT_S``, so a hotline that is never idle still forgets on time."""

    INTERVAL_S = 24 * 3600
    RETRY_S = 60
    MAX_WAIT_S = 3600

    def __init__(self, store: Store, days: int, busy, log_event):
        self.store = store
        self.days = days
        self.busy = busy
        self.log_event = log_event
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ceoline-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            waited = 0
            while self.busy() and waited < self.MAX_WAIT_S and not self._stop.is_set():
                self._stop.wait(self.RETRY_S)
                waited += self.RETRY_S
            if self._stop.is_set():
                return
            try:
                done = purge(self.store, self.days, "retention (serve)")
                self.runs += 1
                self.log_event(
                    "retention.purged",
                    calls=done.calls,
                    turns=done.rows.get("turns", 0),
                    cutoff=done.cutoff,
                    wal_truncated=done.wal_truncated,
                )
            except Exception as exc:  # a failed purge must not take the calls down
                self.log_event("retention.failed", error=repr(exc)[:300])
            self._stop.wait(self.INTERVAL_S)
