"""Personal data in caller text is replaced by typed placeholders before anything is stored.

Text arrives from speech-to-text, so a card number may be "4111 1111 1111 1111" or "four one
one one ..." and an email may be "john dot smith at example dot com". Numbers are read into
digit runs that remember where every digit came from, so a finding always points at the
original words and the sentence around it survives ("my card is [CARD] and it was declined").

Numbers alone are never enough: a run is personal data because of its checksum (cards, IBANs),
its shape (+44 ..., 078-05-1120) or the words just before it ("my number is", "the pin is").
Error codes, prices, years, versions, times and invoice numbers are product feedback and stay.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ceoline.trust import swedish_ids
from ceoline.trust.guardrails import luhn_valid

KINDS = ("CARD", "IBAN", "BANK_ACCOUNT", "NATIONAL_ID", "EMAIL", "PHONE", "CODE", "PASSWORD")
# When two findings overlap, the more specific kind keeps the text.
_PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        ("EMAIL", "IBAN", "NATIONAL_ID", "BANK_ACCOUNT", "PASSWORD", "CODE", "CARD", "PHONE")
    )
}


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    text: str
    found: tuple[Finding, ...]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# --- reading numbers -------------------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
    "eighty": "8", "ninety": "9",
}  # fmt: skip
_REPEATS = {"double": 2, "triple": 3, "treble": 3}
_FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm"})
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")
_TOKEN = re.compile(r"\[[A-Z_]+\]|[^\W_]+")
# Digit groups are joined across spaces, dashes, dots and brackets, never across a slash,
# so "12/05/2024" stays a date.
_RUN_GAP = re.compile(r"[\s,.\-–—()]{0,4}")


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    word: str


@dataclass(frozen=True)
class _Run:
    """Consecutive digits or number words, with the original span of every digit."""

    digits: str
    spans: tuple[tuple[int, int], ...]
    spoken: bool
    plus: bool
    first_word: int

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[-1][1]

    def window(self, first: int, last: int) -> tuple[int, int] | None:
        """The text span of digits[first:last], unless it would cut a number word in half."""
        if first > 0 and self.spans[first - 1] == self.spans[first]:
            return None
        if last < len(self.spans) and self.spans[last - 1] == self.spans[last]:
            return None
        return self.spans[first][0], self.spans[last - 1][1]


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]


def _is_ascii_digits(word: str) -> bool:
    return word.isascii() and word.isdigit()


def _is_number_word(word: str) -> bool:
    return _is_ascii_digits(word) or word in _UNITS or word in _TEENS or word in _TENS


def _continues_run(text: str, tokens: list[_Token], i: int, in_run: bool) -> bool:
    """Whether tokens[i] belongs to a number run that is open (or could open here)."""
    word = tokens[i].word
    following = tokens[i + 1].word if i + 1 < len(tokens) else ""
    if _is_number_word(word):
        # A lone "o" is far more often a letter than a zero.
        return word != "o" or in_run or _is_number_word(following)
    if word in _REPEATS or (word == "plus" and not in_run):
        return _is_number_word(following)
    if word == "hundred":
        return in_run
    if word in _FILLERS and in_run:
        return i + 1 < len(tokens) and _is_number_word(following)
    return False


def _run_from(tokens: list[_Token]) -> _Run | None:
    digits: list[str] = []
    spans: list[tuple[int, int]] = []
    plus = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.word == "plus":
            plus = True
        elif token.word in _REPEATS and following is not None:
            value = _digits_of(following.word) * _REPEATS[token.word]
            digits.extend(value)
            spans.extend([(token.start, following.end)] * len(value))
            i += 1
        elif (
            token.word in _TENS
            and following is not None
            and following.word in _UNITS
            and following.word not in ("zero", "oh", "o", "nought")
        ):
            digits.extend((_TENS[token.word], _UNITS[following.word]))
            spans.extend([(token.start, following.end)] * 2)
            i += 1
        elif token.word == "hundred":
            digits.extend("00")
            spans.extend([(token.start, token.end)] * 2)
        elif _is_ascii_digits(token.word):
            digits.extend(token.word)
            spans.extend((token.start + k, token.start + k + 1) for k in range(len(token.word)))
        elif _is_number_word(token.word):
            value = _digits_of(token.word)
            digits.extend(value)
            spans.extend([(token.start, token.end)] * len(value))
        i += 1
    if not digits:
        return None
    spoken = any(not _is_ascii_digits(t.word) for t in tokens)
    return _Run("".join(digits), tuple(spans), spoken, plus, tokens[0].start)


def _digits_of(word: str) -> str:
    if _is_ascii_digits(word):
        return word
    if word in _UNITS:
        return _UNITS[word]
    if word in _TEENS:
        return _TEENS[word]
    return _TENS.get(word, "") + "0"


def _number_runs(text: str, tokens: list[_Token]) -> Iterator[_Run]:
    current: list[_Token] = []
    for i, token in enumerate(tokens):
        joined = bool(current) and _RUN_GAP.fullmatch(text, current[-1].end, token.start)
        if current and joined and _continues_run(text, tokens, i, in_run=True):
            current.append(token)
            continue
        if current and (run := _run_from(current)) is not None:
            yield run
        current = [token] if _continues_run(text, tokens, i, in_run=False) else []
    if current and (run := _run_from(current)) is not None:
        yield run


# --- context: the words just before a number ----------------------------------------------------

_CONTEXT_CHARS = 90


def _words_before(text: str, position: int) -> str:
    """The lowercased words before position, punctuation dropped, apostrophes closed up."""
    window = text[max(0, position - _CONTEXT_CHARS) : position].lower()
    window = re.sub(r"['’]", "", window)
    return " ".join(re.findall(r"[^\W_]+|\[[a-z_]+\]", window)) + " "


def _ends(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|\b)(?:" + "|".join(patterns) + r") $")


_GLUE = r"(?: (?:is|was|its|it is|would be|should be|number|no|just|like|um|uh|er|erm|ah|oh"
_GLUE += r"|then|yeah|ok|okay|so|of|are|right|here|says|reads|again|as|follows"
_GLUE += r"|on the (?:back|front)(?: of (?:the|my) card)?))*"
_CODE_CONTEXT = _ends(
    r"(?:verification|verify|security|one time|onetime|otp|sms|text|texted|login|log in"
    r"|sign in|signin|auth|authentication|access|confirmation|2fa|two factor|reset|unlock"
    r"|activation|(?:4|6|four|six|five|eight) digit) (?:code|pin|passcode|number)" + _GLUE,
    r"(?:pin|pin number|pin code|cvv|cvv2|cvc|cv2|otp)" + _GLUE,
    r"(?:my|the|your|that|this) code" + _GLUE,
    r"code (?:they|you) (?:sent|texted|gave)(?: me| us)?" + _GLUE,
    # Swedish: "engångskoden jag fick är ...", "pinkoden är ...", "koden är ...".
    r"(?:engångs|säkerhets|verifierings|sms |bankid |pin|pin |inloggnings)?kod(?:en)?"
    r"(?: (?:jag|vi) fick| (?:som )?(?:ni|du) skickade(?: till mig)?)?"
    r"(?: (?:är|var|lyder|blir|nummer|bara|typ|alltså|öh|eh))*",
    r"(?:three|3) digits on the back(?: of (?:the|my) card)?" + _GLUE,
)
# "code is 500" alone is a code unless the word before "code" says it is a product message.
_BARE_CODE = re.compile(r"(?:^|\b)(?:(\w+) )?code (?:is|was|its)(?: just| like)? $")
_NOT_A_SECRET_CODE = _word_set(
    "error status response http exit zip post postal postcode area country dialling dial"
    " promo promotion promotional discount voucher coupon referral product tax sort source"
    " bar qr fault reason tracking dress colour color program reference ref invoice order"
    " event message return diagnostic warning crash bug class iso shortcut"
)
_PHONE_CONTEXT = _ends(
    r"(?:phone|mobile|cell|cellphone|landline|telephone|tel|whatsapp|fax)(?: number)?" + _GLUE,
    r"(?:call|ring|text|reach|contact|phone|message)(?: me| us| him| her| them)?"
    r" (?:on|at|back on)(?: my| the)?(?: mobile| number| phone)?" + _GLUE,
    r"(?:my|the|your|his|her|our|best|contact|home|work|direct|new|old|a) number" + _GLUE,
    r"(?:call ?back|callback|dial|extension)(?: number)?(?: is| on)?" + _GLUE,
)
_SSN_CONTEXT = _ends(r"(?:social security|social|ssn|social insurance)(?: number| no)?" + _GLUE)
_REFERENCE_CONTEXT = _ends(
    r"(?:invoice|order|reference|ref|tracking|transaction|receipt|case|ticket|customer"
    r"|confirmation|account|policy|serial|membership|booking|parcel|shipment|batch|sku"
    r"|model|part|product|version|build|error|claim|item|member|license|licence)"
    r"(?: number| no| id| code)?" + _GLUE,
)
_US_PHONE_SHAPE = re.compile(r"\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}")
# An expiry date read next to a card number is part of the card details.
_EXPIRY_CONTEXT = _ends(
    r"(?:expiry|expiration|expires|exp|valid until|valid thru|valid through)(?: date)?" + _GLUE
)
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_CARD_LENGTHS = (16, 15, 19, 18, 17, 14, 13)


def _bare_code_before(context: str) -> bool:
    match = _BARE_CODE.search(context)
    return match is not None and match.group(1) not in _NOT_A_SECRET_CODE


def _card_window(text: str, run: _Run) -> tuple[int, int] | None:
    groups = re.findall(r"\d+", text[run.start : run.end])
    if not run.spoken and all(len(g) == 4 and 1900 <= int(g) <= 2099 for g in groups):
        return None  # a list of years
    # The card may be read straight on into its expiry date, so search inside longer runs,
    # but written digits only split between groups: "AB12 3456 ..." is not a card from "3456".
    for first in range(0, min(8, max(1, len(run.digits) - 12))):
        for length in _CARD_LENGTHS:
            last = first + length
            if last > len(run.digits) or not luhn_valid(run.digits[first:last]):
                continue
            span = run.window(first, last)
            if span is not None and not _inside_digits(text, *span):
                return span
    return None


def _inside_digits(text: str, start: int, end: int) -> bool:
    return text[start - 1 : start].isdigit() or text[end : end + 1].isdigit()


def _plus_before(text: str, position: int) -> int | None:
    """Where a "+" stands just before position (spaces allowed between), if one does."""
    lead = text[max(0, position - 4) : position]
    stripped = lead.rstrip()
    if stripped.endswith("+"):
        return position - len(lead) + len(stripped) - 1
    return None


def _looks_like_phone(text: str, run: _Run, context: str) -> bool:
    if not 7 <= len(run.digits) <= 15:
        return False
    raw = text[run.start : run.end]
    if _plus_before(text, run.start) is not None or run.plus:
        return True
    if run.digits.startswith("00") and 11 <= len(run.digits) <= 15:
        return True  # dialled from abroad: 00, the country code, the number
    if _PHONE_CONTEXT.search(context):
        return True
    if _REFERENCE_CONTEXT.search(context):
        return False
    opened = text[run.start - 1 : run.start] == "("
    if _US_PHONE_SHAPE.fullmatch(("(" if opened else "") + raw):
        return True
    # A UK number read out in full starts with its zero: "oh seven seven ...", "020 7946 ...".
    return run.digits.startswith("0") and len(run.digits) in (10, 11)


def _run_findings(text: str, run: _Run) -> Iterator[Finding]:
    context = _words_before(text, run.start)
    raw = text[run.start : run.end]
    count = len(run.digits)
    if _SSN_SHAPE.fullmatch(raw) or (_SSN_CONTEXT.search(context) and count >= 9):
        span = run.window(0, 9) if count >= 9 else (run.start, run.end)
        if span is not None:
            yield Finding("NATIONAL_ID", *span)
            return
    if 3 <= count <= 12 and (_CODE_CONTEXT.search(context) or _bare_code_before(context)):
        yield Finding("CODE", run.start, run.end)
        return
    if count >= 13 and not _REFERENCE_CONTEXT.search(context):
        span = _card_window(text, run)
        if span is not None and not (count <= 15 and _PHONE_CONTEXT.search(context)):
            yield Finding("CARD", *span)
            return
    if _looks_like_phone(text, run, context):
        start = run.first_word
        if (plus := _plus_before(text, start)) is not None:
            start = plus
        elif text[start - 1 : start] == "(":
            start -= 1
        yield Finding("PHONE", start, run.end)


# --- letters and digits read together: IBANs and National Insurance numbers -------------------

_IBAN_WRITTEN = re.compile(r"(?<![^\W_])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,32}(?![^\W_])")
_NI_WRITTEN = re.compile(
    r"(?<![^\W_])([A-Za-z]{2})[ -]?\d{2}[ -]?\d{2}[ -]?\d{2}[ -]?[A-Da-d](?![^\W_])"
)
_IBAN_CONTEXT = re.compile(r"\b(?:iban|international bank account)(?: number| no)?\b", re.I)
_NI_CONTEXT = re.compile(r"\b(?:national insurance|ni|nino|n i)(?: number| no)?\b", re.I)
# Two ordinary words in front of six digits are a sentence, not an NI number.
_COMMON_PAIRS = _word_set(
    "is at on in to of by up me my we or as an it so no go do be he us am if oh ok hi"
)
_SPELLING_STOP = _word_set(
    "and but so the then that this with from for when what your have has had was were will"
    " thanks thank please yeah yes okay ok"
)


def _iban_valid(candidate: str) -> bool:
    if not 15 <= len(candidate) <= 34 or not candidate[:2].isalpha():
        return False
    rearranged = candidate[4:] + candidate[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def _iban_findings(text: str) -> Iterator[Finding]:
    for match in _IBAN_WRITTEN.finditer(text):
        # Only stop at a group boundary, so a checksum that happens to work mid-group is ignored.
        ends = [m.start() for m in re.finditer(r" ", match.group())] + [len(match.group())]
        for end in reversed(ends):
            if _iban_valid(match.group()[:end].replace(" ", "").upper()):
                yield Finding("IBAN", match.start(), match.start() + end)
                break


def _ni_findings(text: str) -> Iterator[Finding]:
    for match in _NI_WRITTEN.finditer(text):
        prefix = match.group(1)
        context = text[max(0, match.start() - 60) : match.start()]
        if prefix.isupper() or prefix.lower() not in _COMMON_PAIRS or _NI_CONTEXT.search(context):
            yield Finding("NATIONAL_ID", match.start(), match.end())


def _spelled_after(
    text: str, tokens: list[_Token], starts: list[int], position: int
) -> tuple[str, list[int]]:
    """Letters and digits read out one by one after position, with each character's end."""
    chars: list[str] = []
    ends: list[int] = []
    begins: list[int] = []
    first = bisect.bisect_left(starts, position)
    following = tokens[first : first + 40]
    i = 0
    while i < len(following):
        token = following[i]
        nxt = following[i + 1].word if i + 1 < len(following) else ""
        if not chars and token.word in ("is", "its", "it", "s", "number", "no", "my", "the"):
            i += 1
            continue
        if token.word in _FILLERS:
            i += 1
            continue
        if token.word in _REPEATS and _is_number_word(nxt):
            value = _digits_of(nxt) * _REPEATS[token.word]
            end = following[i + 1].end
            i += 1
        elif token.word in _TENS and nxt in _UNITS and nxt not in ("zero", "oh", "o"):
            value = _TENS[token.word] + _UNITS[nxt]
            end = following[i + 1].end
            i += 1
        elif _is_number_word(token.word) and (len(token.word) > 1 or token.word.isdigit()):
            value, end = _digits_of(token.word), token.end
        elif token.word.isascii() and token.word.isalnum() and len(token.word) <= 4:
            if token.word in _SPELLING_STOP:
                break
            value, end = token.word.upper(), token.end
        else:
            break
        if chars and text[ends[-1] : token.start].strip(" ,.-") != "":
            break
        begins.append(token.start)
        chars.extend(value)
        ends.extend([end] * len(value))
        i += 1
    return "".join(chars), [begins[0], *ends] if begins else []


def _spelled_findings(text: str, tokens: list[_Token]) -> Iterator[Finding]:
    starts = [token.start for token in tokens]
    for context in _IBAN_CONTEXT.finditer(text):
        chars, bounds = _spelled_after(text, tokens, starts, context.end())
        for length in range(min(len(chars), 34), 14, -1):
            boundary = length == len(chars) or bounds[length] != bounds[length + 1]
            if boundary and _iban_valid(chars[:length]):
                yield Finding("IBAN", bounds[0], bounds[length])
                break
    for context in _NI_CONTEXT.finditer(text):
        chars, bounds = _spelled_after(text, tokens, starts, context.end())
        if re.match(r"[A-Z]{2}\d{6}[A-D]", chars):
            yield Finding("NATIONAL_ID", bounds[0], bounds[9])


# --- email ----------------------------------------------------------------------------------

_WRITTEN_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[^\W_](?:[\w-]{0,62})(?:\.[^\W_][\w-]{0,62}){1,5}", re.UNICODE
)
_LOCAL_WORD = r"[a-z0-9][a-z0-9+]{0,40}"
_LOCAL_SEP = r"\s*(?:\.|_|-|\bdot\b|\bunderscore\b|\bdash\b|\bhyphen\b|\bperiod\b)\s*"
_DOMAIN_DOT = r"\s*(?:\.|\bdot\b)\s*"
_TLD = r"(?:com|org|net|io|co|uk|edu|gov|info|biz|de|fr|ie|us|ai|app|dev|me|eu|ca|au|nl)"
_SPOKEN_EMAIL = re.compile(
    rf"\b(?P<local>{_LOCAL_WORD}(?:{_LOCAL_SEP}{_LOCAL_WORD}){{0,5}})"
    rf"\s*(?:@|\bat\b)\s*"
    rf"(?P<domain>[a-z0-9][a-z0-9-]{{0,62}}(?:{_DOMAIN_DOT}[a-z0-9][a-z0-9-]{{0,62}}){{0,3}}"
    rf"{_DOMAIN_DOT}{_TLD})\b",
    re.IGNORECASE,
)
_EMAIL_WORDS = re.compile(
    r"\b(?:e[ -]?mail|email|address|inbox|mail|gmail|outlook|send|sent|forward|forwarded|cc"
    r"|write to|reply to|contact)\b",
    re.IGNORECASE,
)
_EMAIL_LEAD_IN = re.compile(
    r"\b(?:e[ -]?mail|email)(?: address)?\s*(?:is|'s|was|:)\s+((?:[a-z0-9]+\s+){1,2})$",
    re.IGNORECASE,
)
# Spoken "<word> at <site> dot com" is also how people say where they bought or saw something.
_NOT_A_MAILBOX = _word_set(
    "was were is are be been me us them it its look looked looking based work works working"
    " find found go went here there available buy bought sold sell shop shopped order ordered"
    " listed im were youre everything anything it signed sign log logged registered live"
    " posted booked book you we they i him her"
)


def _email_findings(text: str) -> Iterator[Finding]:
    for match in _WRITTEN_EMAIL.finditer(text):
        if not _PLACEHOLDER.search(match.group()):
            yield Finding("EMAIL", match.start(), match.end())
    talks_about_email = bool(_EMAIL_WORDS.search(text))
    for match in _SPOKEN_EMAIL.finditer(text):
        local = match.group("local")
        if "@" not in match.group() and (
            local.lower() in _NOT_A_MAILBOX
            or not (talks_about_email or re.search(_LOCAL_SEP, local) or "." in local)
        ):
            continue
        start = match.start()
        lead_in = _EMAIL_LEAD_IN.search(text, max(0, start - 80), start)
        # "my email is john smith at ..." : the first name belongs to the address too.
        if (
            lead_in
            and "@" not in match.group()
            and not _NOT_A_MAILBOX.intersection(lead_in.group(1).lower().split())
        ):
            start = lead_in.start(1)
        yield Finding("EMAIL", start, match.end())


# --- passwords ------------------------------------------------------------------------------

_PASSWORD_LEAD = re.compile(
    r"\b(?:(?:password|pass word|passcode|pass code|passphrase|pass phrase)"
    r"(?:\s+(?:is|was|would be|should be|will be|equals)|'s|’s|\s*:|\s*=)"
    # Swedish: "mitt lösenord är ...", "lösenordet lyder ...".
    r"|lösenord(?:et)?(?:\s+(?:är|var|lyder|blir)|\s*:|\s*=))"
    r"(?:\s+(?:just|like|actually|literally|um|uh|er|bara|typ|alltså|öh|eh))*\s+",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(
    r"[,;!?\[]|\.(?:\s|$)|\s(?:and|but|so|because|cos|cause|which|then|though|although|if"
    r"|when|or|can|could|would|should|will)\b",
    re.IGNORECASE,
)
# Words that make "my password is ..." a complaint about the password rather than the password.
_NOT_A_PASSWORD = _word_set(
    "not no never wrong incorrect invalid being too rejected expired broken locked working"
    " correct right fine ok okay saved stored changed reset weak strong long short case still"
    " also definitely probably always required hard easy asking showing failing blocked"
    " compromised stolen leaked what why how where when which that there in on for so really"
    " very getting going supposed meant secure safe encrypted different valid accepted sent"
    " the same a an my your in at hidden forgotten lost"
)
_MAX_PASSWORD_WORDS = 6


def _password_findings(text: str) -> Iterator[Finding]:
    for lead in _PASSWORD_LEAD.finditer(text):
        rest = text[lead.end() : lead.end() + 200]
        clause_end = _CLAUSE_END.search(rest)
        clause = rest[: clause_end.start() if clause_end else len(rest)]
        words = list(re.finditer(r"\S+", clause))[:_MAX_PASSWORD_WORDS]
        if not words or words[0].group().lower().strip("\"'") in _NOT_A_PASSWORD:
            continue
        if _PLACEHOLDER.match(words[0].group()):
            continue
        end = words[-1].end()
        while end > words[0].start() + 1 and rest[end - 1] in ".\"'":
            end -= 1
        yield Finding("PASSWORD", lead.end() + words[0].start(), lead.end() + end)


# --- putting it together --------------------------------------------------------------------


def _candidates(text: str) -> Iterator[Finding]:
    tokens = _tokens(text)
    yield from _email_findings(text)
    yield from _iban_findings(text)
    yield from _ni_findings(text)
    yield from _spelled_findings(text, tokens)
    yield from _password_findings(text)
    runs = list(_number_runs(text, tokens))
    for kind, start, end in swedish_ids.findings(text, runs):
        yield Finding(kind, start, end)
    found = [finding for run in runs for finding in _run_findings(text, run)]
    yield from found
    if any(finding.kind == "CARD" for finding in found):
        for run in runs:
            if 3 <= len(run.digits) <= 6 and _EXPIRY_CONTEXT.search(_words_before(text, run.start)):
                yield Finding("CARD", run.start, run.end)


def _select(candidates: Iterable[Finding], placeholders: list[tuple[int, int]]) -> list[Finding]:
    # Taken spans never overlap, so sorted starts are sorted ends too and bisect finds neighbours.
    starts = [start for start, _ in placeholders]
    ends = [end for _, end in placeholders]
    kept: list[Finding] = []
    ordered = sorted(candidates, key=lambda f: (_PRIORITY[f.kind], f.start, f.start - f.end))
    for finding in ordered:
        if finding.end <= finding.start:
            continue
        at = bisect.bisect_right(starts, finding.start)
        if (at > 0 and ends[at - 1] > finding.start) or (
            at < len(starts) and starts[at] < finding.end
        ):
            continue
        starts.insert(at, finding.start)
        ends.insert(at, finding.end)
        kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str) -> Redaction:
    """Text with personal data replaced by [KIND] placeholders, and where each one was."""
    if not isinstance(text, str) or not text:
        return Redaction(text if isinstance(text, str) else "", ())
    try:
        placeholders = [m.span() for m in _PLACEHOLDER.finditer(text)]
        found = _select(_candidates(text), placeholders)
    except (RecursionError, ValueError, IndexError, OverflowError, MemoryError):
        # Storing unredacted text is worse than storing none of it.
        return Redaction("[REDACTED]", (Finding("UNREADABLE", 0, len(text)),))
    pieces: list[str] = []
    cursor = 0
    for finding in found:
        pieces.append(text[cursor : finding.start])
        pieces.append(f"[{finding.kind}]")
        cursor = finding.end
    pieces.append(text[cursor:])
    return Redaction("".join(pieces), tuple(found))


def redact_json(obj: Any) -> Any:
    """A copy of a dict/list structure with every string (keys too) redacted."""
    if isinstance(obj, str):
        return redact(obj).text
    if isinstance(obj, dict):
        return {redact_json(key): redact_json(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_json(item) for item in obj)
    return obj


# --- evaluation -----------------------------------------------------------------------------

_EMAIL_LOCAL_WRITTEN = re.compile(r"([\w.+-]+)@")
_EMAIL_LOCAL_SPOKEN = re.compile(
    rf"\b({_LOCAL_WORD}(?:{_LOCAL_SEP}{_LOCAL_WORD}){{0,5}})\s+at\s+\w+\s+dot\s", re.I
)


def _digit_runs(text: str) -> list[str]:
    return [run.digits for run in _number_runs(text, _tokens(text))]


def leaks(original: str, redacted: str) -> list[str]:
    """Digit runs (3+) or email local parts of the original still readable after redaction."""
    original_runs = [digits for digits in _digit_runs(original) if len(digits) >= 3]
    left = [
        digits
        for digits in _digit_runs(redacted)
        if len(digits) >= 3 and any(digits in whole for whole in original_runs)
    ]
    locals_ = _EMAIL_LOCAL_WRITTEN.findall(original) + [
        local
        for local in _EMAIL_LOCAL_SPOKEN.findall(original)
        if local.lower() not in _NOT_A_MAILBOX
    ]
    lowered = redacted.lower()
    left += [local for local in locals_ if re.search(rf"\b{re.escape(local.lower())}\b", lowered)]
    return left


def evaluate(pii_lines: Iterable[dict], clean_lines: Iterable[dict | str]) -> dict:
    """Recall per kind and overall on labelled PII lines, and clean lines that got redacted."""
    hits = dict.fromkeys(KINDS, 0)
    totals = dict.fromkeys(KINDS, 0)
    missed: list[dict] = []
    for line in pii_lines:
        output = redact(line["text"]).text
        leaked = leaks(line["text"], output)
        for kind in line["pii"]:
            totals[kind] += 1
            if f"[{kind}]" in output and not leaked:
                hits[kind] += 1
            else:
                missed.append({"text": line["text"], "kind": kind, "output": output})
    false_positives = []
    for line in clean_lines:
        text = line if isinstance(line, str) else line["text"]
        result = redact(text)
        if result.found:
            false_positives.append({"text": text, "output": result.text})
    total = sum(totals.values())
    return {
        "recall": {kind: hits[kind] / totals[kind] for kind in KINDS if totals[kind]},
        "overall_recall": sum(hits.values()) / total if total else 1.0,
        "missed": missed,
        "false_positive_lines": false_positives,
        "false_positives": len(false_positives),
    }
