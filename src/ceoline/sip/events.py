"""One structured log line per call event: ``event=call.answered call=… codec=…``.

Values that came off the wire (caller URIs, display names) are quoted and escaped, so a
caller cannot forge log lines with newlines or fake ``key=value`` pairs.
"""

from __future__ import annotations

import json
import logging
import re

log = logging.getLogger("ceoline.calls")

_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+\-\[\]]+")


def format_event(event: str, **fields: object) -> str:
    parts = [f"event={event}"]
    for key, value in fields.items():
        if value is None:
            continue
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text if _PLAIN.fullmatch(text) else json.dumps(text)}")
    return " ".join(parts)


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, format_event(event, **fields))
