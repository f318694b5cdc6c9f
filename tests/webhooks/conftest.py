"""A real HTTP receiver on loopback that checks signatures with the standardwebhooks library."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """Answers each POST with the next status from ``answers`` (then 204), after ``delay_s``."""

    def __init__(self, secret: str | None):
        from standardwebhooks import Webhook

        self.verifier = Webhook(secret) if secret else None
        self.answers: list[int] = []
        self.delay_s = 0.0
        self.received: list[dict] = []  # every attempt
        self.accepted: dict[str, dict] = {}  # by webhook-id: duplicates dropped
        self.rejected = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(outer.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.received.append({"headers": headers, "body": body})
                status = outer.answers.pop(0) if outer.answers else 204
                if outer.verifier is not None:
                    try:
                        outer.verifier.verify(body, headers)
                    except Exception:
                        outer.rejected += 1
                        status = 401
                if 200 <= status < 300:
                    outer.accepted.setdefault(headers.get("webhook-id", str(len(outer.received))),
                                              json.loads(body))  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ceoline"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def secret(tmp_path):
    from ceoline.webhooks.signing import new_secret

    value = new_secret()
    (tmp_path / "tracker.key").write_text(value + "\n")
    return value


@pytest.fixture
def receiver(secret):
    r = Receiver(secret)
    yield r
    r.close()
