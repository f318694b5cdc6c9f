"""Dashboard users, sessions, CSRF tokens, login throttling and the audit log.

Passwords are argon2 hashes. A session is a random token in an HttpOnly cookie; the
database keeps only its SHA-256, with an expiry and a per-session CSRF token that every
form must send back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ceoline.errors import CeolineError
from ceoline.store import Store, utc_now

ROLES = ("reviewer", "admin", "compliance")
MIN_PASSWORD_LENGTH = 10
SESSION_TTL = timedelta(hours=8)
LOGIN_WINDOW = timedelta(minutes=10)
MAX_LOGIN_FAILURES = 5
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

_hasher = PasswordHasher()
# Verifying against this when the name is unknown keeps the response time the same,
# so timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

# Who may do what; admin may do everything.
PERMISSIONS = {
    "view": {"reviewer", "admin", "compliance"},
    "export": {"reviewer", "admin", "compliance"},
    "review": {"reviewer", "admin"},
    "audit": {"compliance", "admin"},
}


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf_token: str

    def may(self, action: str) -> bool:
        return self.role in PERMISSIONS[action]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- users ------------------------------------------------------------------------------------


def add_user(store: Store, name: str, password: str, role: str) -> None:
    if not _USER_NAME.match(name):
        raise CeolineError(
            f"user name {name!r} is not valid; use up to 64 letters, digits, '.', '_', '@' or '-'"
        )
    if role not in ROLES:
        raise CeolineError(f"role {role!r} is not valid; use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CeolineError(f"the password is too short; use at least {MIN_PASSWORD_LENGTH} chars")
    password_hash = _hasher.hash(password)
    with store.writing() as db:
        if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise CeolineError(f"user {name!r} exists already; remove it first to replace it")
        db.execute(
            "INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            [name, password_hash, role, utc_now()],
        )


def list_users(store: Store) -> list[dict]:
    with store.reading() as db:
        return list(db.query("SELECT name, role, created_at FROM users ORDER BY name"))


def remove_user(store: Store, name: str) -> None:
    with store.writing() as db:
        db.execute("DELETE FROM web_sessions WHERE user_name = ?", [name])
        if db.execute("DELETE FROM users WHERE name = ?", [name]).rowcount == 0:
            raise CeolineError(f"no user {name!r}; see `ceoline users list`")


def check_password(store: Store, name: str, password: str) -> str | None:
    """The user's role when NAME and PASSWORD match, else None."""
    with store.reading() as db:
        row = db.execute("SELECT password_hash, role FROM users WHERE name = ?", [name]).fetchone()
    try:
        _hasher.verify(row[0] if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return row[1] if row else None


# -- login throttling ---------------------------------------------------------------------------


def login_blocked(store: Store, name: str, ip: str) -> bool:
    since = _iso(datetime.now(UTC) - LOGIN_WINDOW)
    with store.reading() as db:
        failures = db.execute(
            "SELECT COUNT(*) FROM login_failures WHERE name = ? AND ip = ? AND at >= ?",
            [name, ip, since],
        ).fetchone()[0]
    return failures >= MAX_LOGIN_FAILURES


def record_login_failure(store: Store, name: str, ip: str) -> None:
    with store.writing() as db:
        db.execute(
            "DELETE FROM login_failures WHERE at < ?", [_iso(datetime.now(UTC) - LOGIN_WINDOW)]
        )
        db.execute(
            "INSERT INTO login_failures (name, ip, at) VALUES (?, ?, ?)", [name, ip, utc_now()]
        )


def clear_login_failures(store: Store, name: str, ip: str) -> None:
    with store.writing() as db:
        db.execute("DELETE FROM login_failures WHERE name = ? AND ip = ?", [name, ip])


# -- sessions -----------------------------------------------------------------------------------


def start_session(store: Store, user: str, ip: str) -> tuple[str, Session]:
    """A new session for USER; returns the cookie token and the session."""
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.writing() as db:
        db.execute("DELETE FROM web_sessions WHERE expires_at < ?", [_iso(now)])
        role = db.execute("SELECT role FROM users WHERE name = ?", [user]).fetchone()[0]
        db.execute(
            "INSERT INTO web_sessions (token_hash, user_name, csrf_token, ip, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [_token_hash(token), user, csrf_token, ip, _iso(now), _iso(now + SESSION_TTL)],
        )
    return token, Session(user, role, csrf_token)


def load_session(store: Store, token: str | None) -> Session | None:
    if not token or len(token) > 200:
        return None
    with store.reading() as db:
        row = db.execute(
            "SELECT s.user_name, u.role, s.csrf_token FROM web_sessions s "
            "JOIN users u ON u.name = s.user_name WHERE s.token_hash = ? AND s.expires_at > ?",
            [_token_hash(token), utc_now()],
        ).fetchone()
    return Session(*row) if row else None


def end_session(store: Store, token: str) -> None:
    with store.writing() as db:
        db.execute("DELETE FROM web_sessions WHERE token_hash = ?", [_token_hash(token)])


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


# -- audit --------------------------------------------------------------------------------------


def audit(store: Store, user: str | None, action: str, target: str = "", ip: str = "") -> None:
    with store.writing() as db:
        db.execute(
            "INSERT INTO audit_log (at, user_name, action, target, ip) VALUES (?, ?, ?, ?, ?)",
            [utc_now(), user, action, target[:300], ip],
        )


def audit_rows(store: Store, user: str = "", action: str = "", limit: int = 500) -> list[dict]:
    clauses, params = [], []
    if user:
        clauses.append("user_name = ?")
        params.append(user)
    if action:
        clauses.append("action = ?")
        params.append(action)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with store.reading() as db:
        rows = list(
            db.query(
                f"SELECT at, user_name, action, target, ip, detail FROM audit_log {where} "
                "ORDER BY id DESC LIMIT ?",
                [*params, limit],
            )
        )
    for row in rows:
        row["target"] = _with_counts(row["target"], row.pop("detail"))
    return rows


def _with_counts(target: str, detail: str | None) -> str:
    """A purge's or erasure's row counts after its target: "3 calls: 41 turns, 2 items"."""
    try:
        counts = json.loads(detail)["rows"] if detail else {}
    except (ValueError, KeyError, TypeError):
        return target
    kinds = ", ".join(f"{n} {table}" for table, n in counts.items() if n and table != "calls")
    return f"{target}: {kinds}" if kinds else target
