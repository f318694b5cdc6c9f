"""Opening hours: when a line's people can take a transferred call.

Written as a PBX administrator writes them, in the line's own time zone::

    mon-fri 08:00-17:00; sat 10:00-14:00

Outside them a caller who asks for a person is offered a message and a call back instead of a
transfer that would ring an empty room. An empty spec is always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^\s*([a-z,\-]+)\s+(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Hours:
    # (weekday 0 = Monday, opens, closes) for each open span; empty: always open.
    spans: tuple[tuple[int, time, time], ...]
    zone: ZoneInfo

    def open_at(self, when: datetime | None = None) -> bool:
        if not self.spans:
            return True
        local = (when or datetime.now(UTC)).astimezone(self.zone)
        now = local.time()
        return any(
            day == local.weekday() and opens <= now < closes for day, opens, closes in self.spans
        )


def _days(text: str) -> list[int]:
    out = []
    for piece in text.split(","):
        first, _, last = piece.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{piece!r} is not a day or range of days (mon, tue, … sun)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise ValueError(f"{piece!r} runs backwards; write it as two ranges")
        out += range(start, end + 1)
    return out


# Each call of a line asks for its hours; the spec is parsed once.
@lru_cache(maxsize=64)
def parse_hours(spec: str, timezone: str = "UTC") -> Hours:
    """``spec`` such as "mon-fri 08:00-17:00; sat 10:00-14:00" in ``timezone`` (IANA, e.g.
    "Europe/Stockholm"). Raises ValueError naming what is wrong."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as "
                         "'Europe/Stockholm'") from None  # fmt: skip
    spans = []
    for part in filter(str.strip, spec.lower().split(";")):
        match = _PART.match(part)
        if match is None:
            raise ValueError(
                f"{part.strip()!r} is not DAYS HH:MM-HH:MM, e.g. 'mon-fri 08:00-17:00'"
            )
        days, h1, m1, h2, m2 = match.groups()
        try:
            opens = time(int(h1), int(m1))
            closes = time(int(h2), int(m2)) if (h2, m2) != ("24", "00") else time.max
        except ValueError:
            raise ValueError(f"{part.strip()!r}: hours run 00:00 to 24:00") from None
        if closes <= opens:
            raise ValueError(f"{part.strip()!r} closes before it opens")
        spans += [(day, opens, closes) for day in _days(days)]
    return Hours(tuple(spans), zone)
