"""Swedish personal data in caller text: personnummer, samordningsnummer, bankgiro, plusgiro.

A personnummer is YYMMDD-NNNC (or YYYYMMDD-NNNC), with "+" instead of "-" for people over a
hundred; a samordningsnummer adds 60 to the day. C is a Luhn digit over the ten digits. Written
with its separator, or as twelve digits with the century, it is recognised by date and
checksum alone. Said on a call it rarely survives as written: Whisper made
"$19,850,700 I'm $5,800" of one, so after a cue ("personal number", "personnummer",
"coordination number", "social security number") the digits that follow are taken, whatever
stands between them, up to twelve. Bankgiro and plusgiro numbers look like any other number
and are only taken after their names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from ceoline.trust.guardrails import luhn_valid


class DigitRun(Protocol):
    digits: str

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


_ID_WRITTEN = re.compile(r"(?<![\d+])((?:19|20)?\d{6})( ?[-+] ?| )?(\d{4})(?![\d])")
_ID_CUE = re.compile(
    r"\b(?:personnummer\w*|personnumret|person(?:al)? (?:identity |id |identification )?number"
    r"|personal id|samordningsnummer\w*|co-?ordination number|social security number)\b",
    re.IGNORECASE,
)
_GIRO_CUE = re.compile(
    r"\b(?:bank ?giro\w*|plus ?giro\w*|post ?giro\w*)(?: (?:number|no|account|is|was|its|it"
    r"s|it is))*\b",
    re.IGNORECASE,
)
# How far after a cue the number may run, and where a sentence ends.
_AFTER_CUE = 80
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def personnummer_valid(digits: str) -> bool:
    """Ten digits (or twelve with the century) with a plausible date and the Luhn digit."""
    if len(digits) == 12:
        if digits[:2] not in ("19", "20"):
            return False
        digits = digits[2:]
    if len(digits) != 10 or not digits.isdigit():
        return False
    month, day = int(digits[2:4]), int(digits[4:6])
    coordination = day > 60
    day -= 60 if coordination else 0
    return 1 <= month <= 12 and 1 <= day <= 31 and luhn_valid(digits)


def _written_ids(text: str) -> Iterator[tuple[str, int, int]]:
    cued = _ID_CUE.search(text) is not None
    for match in _ID_WRITTEN.finditer(text):
        date, separator, serial = match.group(1), match.group(2), match.group(3)
        if not personnummer_valid(date + serial):
            continue
        # Ten bare digits are also a phone number's shape: they need the separator, the
        # century or a cue somewhere in the sentence.
        dashed = separator is not None and separator.strip() in ("-", "+")
        if dashed or len(date) == 8 or cued:
            yield "NATIONAL_ID", match.start(), match.end()


def _after(cue_end: int, text: str, runs: Iterable[DigitRun], most: int) -> tuple[int, int] | None:
    """The span of the digits read after a cue, up to MOST digits, within the sentence."""
    stop = cue_end + _AFTER_CUE
    end_of_sentence = _SENTENCE_END.search(text, cue_end)
    if end_of_sentence is not None:
        stop = min(stop, end_of_sentence.start())
    start = end = None
    count = 0
    for run in runs:
        if run.start < cue_end or run.start >= stop:
            continue
        if end is not None and (count >= min(most, 10) or len(text[end : run.start].split()) > 3):
            break  # the number is complete, or what follows is another one
        start = run.start if start is None else start
        end = run.end
        count += len(run.digits)
    if start is None or end is None or count < 5:
        return None
    # Whisper writes a long spoken number as money: "$19,850,700".
    return (start - 1 if text[start - 1 : start] in ("$", "£", "€") else start), end


def findings(text: str, runs: list[DigitRun]) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) for each Swedish identity or giro number in TEXT; RUNS are its
    digit runs (written or spoken), in order."""
    yield from _written_ids(text)
    for cue in _ID_CUE.finditer(text):
        span = _after(cue.end(), text, runs, 12)
        if span is not None:
            yield "NATIONAL_ID", *span
    for cue in _GIRO_CUE.finditer(text):
        span = _after(cue.end(), text, runs, 8)
        if span is not None:
            yield "BANK_ACCOUNT", *span
