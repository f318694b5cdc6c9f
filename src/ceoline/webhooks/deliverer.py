"""Sending the outbox: at least once, the same message id every time, never in a call's way.

Each due delivery is posted with a timeout; a 2xx answer delivers it. Anything else (an error
status, a refused connection, a receiver that hangs past the timeout) schedules another try
after an exponential backoff with jitter (5 s doubling, at most an hour apart), until the
event is 24 hours old: then it is a dead letter, in the audit log without its payload, that
`ceoline webhooks retry` can send again. The deliverer runs in its own thread and only reads
and writes the outbox, so a slow receiver delays nothing else.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ceoline.config import Config, WebhookConfig
from ceoline.errors import ConfigError
from ceoline.store import Store, audit_system
from ceoline.webhooks import events, formats, signing

log = logging.getLogger(__name__)

FIRST_RETRY_S = 5.0
LONGEST_WAIT_S = 3600.0
GIVE_UP_AFTER = timedelta(hours=24)
POLL_S = 1.0
# How often overdue items and rising themes are looked for.
SCAN_S = 60.0
# Straight to the destination, never through a proxy from the environment: the unit's
# IPAddressAllow names the destinations themselves, and nothing else may see a payload.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def backoff_s(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """The wait after the ATTEMPTS-th failure: doubling from 5 s, capped at an hour, ±50 %."""
    return min(LONGEST_WAIT_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)) * (0.5 + rng())


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


class Deliverer:
    def __init__(self, config: Config, store: Store, now: Callable[[], datetime] | None = None):
        self.config = config
        self.store = store
        self.hooks = {hook.name: hook for hook in config.webhooks}
        self._now = now or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keys: dict[str, bytes] = {}

    def key(self, hook: WebhookConfig) -> bytes:
        if hook.name not in self._keys:
            self._keys[hook.name] = signing.read_secret(self.config.path(hook.secret_file))
        return self._keys[hook.name]

    def request(self, hook: WebhookConfig, msg_id: str, stored_body: str) -> urllib.request.Request:
        payload = formats.render(hook.format, stored_body)
        headers = {"Content-Type": "application/json", "User-Agent": "ceoline-webhooks"}
        if hook.format == "standard":
            headers |= signing.headers(self.key(hook), msg_id, int(time.time()), payload)
        elif hook.format == "gitlab" and hook.token_file:
            token = Path(self.config.path(hook.token_file)).read_text("utf-8").strip()
            headers["PRIVATE-TOKEN"] = token
        return urllib.request.Request(hook.url, data=payload, headers=headers, method="POST")

    def send(self, row: dict) -> bool:
        """One attempt at one delivery; records the outcome. True when delivered."""
        hook = self.hooks.get(row["webhook"])
        now = self._now()
        if hook is None:
            self.store.delivery_failed(row["id"], None, "no such destination in the config", None)
            return False
        status, error = None, ""
        try:
            request = self.request(hook, row["msg_id"], row["body"])
            with _DIRECT.open(request, timeout=hook.timeout_s) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = str(getattr(exc, "reason", exc))[:200] or type(exc).__name__
        except ConfigError as exc:
            error = str(exc)
        if status is not None and 200 <= status < 300:
            self.store.delivery_done(row["id"], status)
            return True
        created = datetime.fromisoformat(row["created_at"])
        if now - created >= GIVE_UP_AFTER:
            log.warning("webhook %s: delivery %s is dead (%s)", hook.name, row["id"], error)
            self.store.delivery_failed(row["id"], status, error, None)
        else:
            wait = backoff_s(row["attempts"] + 1)
            self.store.delivery_failed(
                row["id"], status, error, _iso(now + timedelta(seconds=wait))
            )
        return False

    def deliver_due(self, ignore_clock: bool = False, limit: int = 100) -> tuple[int, int]:
        """Send what is due now (or everything pending); returns (delivered, failed)."""
        rows = self.store.due_deliveries(_iso(self._now()), limit, ignore_clock)
        done = sum(self.send(row) for row in rows)
        return done, len(rows) - done

    def record_destinations(self) -> bool:
        """Put the destinations in the audit log when they differ from the last ones there:
        names, formats, URLs, events and filters, never a secret. True when they changed."""
        listed = "; ".join(
            f"{h.name} {h.format} {h.url} events={','.join(h.events)} "
            f"min_urgency={h.min_urgency} types={','.join(h.types)} areas={','.join(h.areas)}"
            for h in self.config.webhooks
        )
        with self.store.writing() as db:
            last = db.execute(
                "SELECT detail FROM audit_log WHERE action = 'webhooks.destinations' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if (last[0] if last else "") == listed:
                return False
            audit_system(
                db,
                "webhooks.destinations",
                f"{len(self.config.webhooks)} destinations",
                listed,
                at=_iso(self._now()),
            )
        return True

    def start(self) -> None:
        self.record_destinations()
        self._thread = threading.Thread(target=self._run, name="ceoline-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def scan(self) -> int:
        """Queue the periodic events (overdue items, rising themes); how many were new."""
        return self.store.add_deliveries(events.periodic_rows(self.config, self.store, self._now()))

    def _run(self) -> None:
        scanned = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - scanned >= SCAN_S:
                    scanned = time.monotonic()
                    self.scan()
                sent, failed = self.deliver_due()
            except Exception:
                log.exception("webhooks: delivery round failed")
                sent = failed = 0
            if not sent and not failed:
                self._stop.wait(POLL_S)
