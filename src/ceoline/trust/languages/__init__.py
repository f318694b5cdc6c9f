"""What a line says and listens for, in its language: one table per language.

A call takes everything language-bound from its line's table: the fixed lines it speaks
(handoff, don't-know, still-there, goodbyes), the caller rules the dialogue policy applies
(off-limits requests, a request for a person, "am I talking to a robot?", a goodbye, yes and
no) and the word sets the voice loop's word rules read (backchannels, stop requests,
unfinished endings, question openers). The logic that applies them stays in
:mod:`ceoline.trust.dialogue`, :mod:`ceoline.trust.guardrails` and
:mod:`ceoline.voice.word_rules`; a new language is a new table, not a new code path.
"""

from __future__ import annotations

from ceoline.trust.languages.english import ENGLISH, ENGLISH_GB
from ceoline.trust.languages.swedish import SWEDISH
from ceoline.trust.languages.table import CallerRules, FixedLines, Language, Words

LANGUAGES = {table.code: table for table in (ENGLISH, ENGLISH_GB, SWEDISH)}

__all__ = [
    "ENGLISH",
    "ENGLISH_GB",
    "LANGUAGES",
    "SWEDISH",
    "CallerRules",
    "FixedLines",
    "Language",
    "Words",
]


def language_of(code: str) -> Language:
    """The table for ``code``; the config allows only codes that have one."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise ValueError(f"no language table for {code!r}; known: {sorted(LANGUAGES)}") from None
