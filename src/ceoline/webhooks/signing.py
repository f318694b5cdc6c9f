"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from ceoline.errors import ConfigError

PREFIX = "whsec_"


def read_secret(path: Path) -> bytes:
    """The key in a secret file: one line, ``whsec_<base64>``."""
    try:
        line = path.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the webhook secret ({exc.strerror})") from None
    if not line.startswith(PREFIX):
        raise ConfigError(f"{path}: a webhook secret is one line, whsec_<base64>")
    try:
        key = base64.b64decode(line[len(PREFIX) :], validate=True)
    except ValueError:
        raise ConfigError(f"{path}: the part after whsec_ is not base64") from None
    if len(key) < 16:
        raise ConfigError(f"{path}: the webhook secret is shorter than 16 bytes")
    return key


def new_secret() -> str:
    import secrets

    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
