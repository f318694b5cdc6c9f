"""Facts in a sentence: numbers said any way, names, and words compared by their stems.

A caller hears "forty thousand", the notes write "forty thousand", the model may write
"40,000": all three are the fact 40000. Whisper may write "twenty sixteen" or "2016". So
numbers are read into one canonical form before any comparison, and words are compared by
a crude stem with a few synonyms the notes and callers use for the same thing ("started" /
"founded", "staff" / "employees").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?|[£$€%]")
YEARS = range(1900, 2100)


@dataclass(frozen=True)
class Token:
    text: str  # as written (numbers: canonical digits)
    key: str  # what comparisons use: a number's digits, or a word's lower-case stem
    number: bool = False
    capitalised: bool = False

    @property
    def lower(self) -> str:
        return self.text.lower()


def _number_value(words: list[str]) -> float | None:
    """A run of number words ("one hundred and sixty", "one point five million") as a value."""
    total, current, decimals, seen = 0.0, 0.0, None, False
    for word in words:
        if word in _UNITS or word in _TENS:
            value = _UNITS.get(word, _TENS.get(word, 0))
            if decimals is not None:
                decimals += str(value)
            else:
                current += value
            seen = True
        elif word == "point" and seen and decimals is None:
            decimals = ""
        elif word in _SCALES and seen:
            if decimals:
                current += float(f"0.{decimals}")
                decimals = None
            scale = _SCALES[word]
            if scale == 100:
                current *= 100
            else:
                total += current * scale
                current = 0.0
        elif word == "and":
            continue
        else:
            return None
    if decimals:
        current += float(f"0.{decimals}")
    return total + current if seen else None


def canonical(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _digits_value(text: str) -> float | None:
    cleaned = text.replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def tokens(text: str) -> list[Token]:
    """Words and numbers of ``text``; a number is one token whatever way it was written."""
    raw = _TOKEN.findall(text.replace("-", " "))
    out: list[Token] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        lower = word.lower()
        if word[0].isdigit():
            value = _digits_value(word)
            j = i + 1
            # "1.5 million", "12 thousand"
            if value is not None and j < len(raw) and raw[j].lower() in _SCALES:
                value *= _SCALES[raw[j].lower()]
                j += 1
            if value is not None:
                out.append(Token(canonical(value), canonical(value), number=True))
                i = j
                continue
        if lower in _UNITS or lower in _TENS:
            # The longest run of number words from here that still reads as one number.
            j = i + 1
            while j < len(raw) and (
                raw[j].lower() in _UNITS
                or raw[j].lower() in _TENS
                or raw[j].lower() in _SCALES
                or raw[j].lower() == "point"
                or (
                    raw[j].lower() == "and"
                    and j + 1 < len(raw)
                    and (raw[j + 1].lower() in _UNITS or raw[j + 1].lower() in _TENS)
                    and raw[j - 1].lower() in _SCALES
                )
            ):
                j += 1
            words = [w.lower() for w in raw[i:j]]
            while words and words[-1] in ("point", "and"):
                words.pop()
                j -= 1
            year = _spoken_year(words)
            value = year if year is not None else _number_value(words)
            # A lone "one" is "one set", "in one tap", "the one": not a figure.
            if value is not None and words != ["one"]:
                out.append(Token(canonical(value), canonical(value), number=True))
                i = j
                continue
        out.append(Token(word, stem(lower), capitalised=word[0].isupper()))
        i += 1
    return out


def _spoken_year(words: list[str]) -> int | None:
    """ "twenty sixteen", "nineteen ninety nine": two-part years as Whisper may write them."""
    if len(words) < 2 or words[0] not in ("nineteen", "twenty"):
        return None
    if any(w in _SCALES or w in ("point", "and") for w in words):
        return None
    rest = _number_value(words[1:])
    if rest is None or not 10 <= rest <= 99 or (len(words) > 2 and words[1] not in _TENS):
        return None
    return int(_UNITS[words[0]] * 100 + rest) if words[0] in _UNITS else int(2000 + rest)


# Words callers and the notes use for the same thing, mapped to one key.
_SYNONYMS = {
    "start": "found", "began": "found", "begin": "found", "founder": "found",
    "set": "found", "creat": "found",
    "launch": "launch", "releas": "launch", "came": "launch",
    "employe": "staff", "people": "staff", "worker": "staff", "team": "staff",
    "employ": "staff",
    "client": "customer", "user": "customer", "business": "customer",
    "headquarter": "offic", "hq": "offic",
    "cost": "price", "pric": "price", "fee": "price",
    "charge": "lead", "head": "lead", "run": "lead", "manag": "lead", "boss": "lead",
    "aim": "mission", "goal": "mission", "try": "mission", "trying": "mission",
    "purpos": "mission", "vision": "mission",
    "job": "work", "career": "work", "build": "product", "built": "product",
    "drew": "draw", "draw": "draw", "sketch": "draw", "design": "draw",
    "phone": "mobil",
    "rais": "fund",
    "profit": "profit", "profitabl": "profit",
    "financial": "financ", "financ": "financ", "money": "financ", "finances": "financ",
    "tech": "technology", "technical": "technology", "engineer": "technology",
    "engineering": "technology",
    "cofounder": "found",
}  # fmt: skip


def stem(word: str) -> str:
    """A crude stem: enough for "invoices"/"invoice", "launched"/"launch", "founded"/"found"."""
    w = word.lower().replace("'s", "")
    if w in _SYNONYMS:
        return _SYNONYMS[w]
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    if w in _SYNONYMS:
        return _SYNONYMS[w]
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return _SYNONYMS.get(w, w)


def number_keys(text: str) -> set[str]:
    return {t.key for t in tokens(text) if t.number}


def normalised(text: str) -> str:
    """``text`` as one line of comparison keys, for "does this reply say that fact?"."""
    return " " + " ".join(t.key for t in tokens(text)) + " "


def mentions(text: str, fact: str) -> bool:
    """Does ``text`` state ``fact`` (a number, a name or a phrase), however it is written?"""
    return normalised(fact) in normalised(text)
