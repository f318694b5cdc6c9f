"""The shape of a language's table: fixed lines, word sets and caller rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ceoline.trust.guardrails import CallerVerdict


@dataclass(frozen=True)
class FixedLines:
    """Everything the hotline says in its own words rather than the persona's or the notes'."""

    transferring: str
    take_message: str
    transfer_failed: str
    message_taken: str
    offer_human: str
    offer_declined: str
    # The caller presses the matter a pending offer is about: the offer, not the refusal again.
    offer_again: str
    not_understood: str
    not_caught: str
    dont_know: str
    identity: str  # the truth about being an AI, with {name} for the persona's
    # Said to feedback on a line whose reply model does not speak its language: the first
    # time, what the line can and cannot do; after that, only that the words were kept.
    noted_first: str
    noted: str
    fallback: str  # the reply model produced nothing usable
    still_there: str
    silence_goodbye: str
    max_duration_goodbye: str
    shutdown_goodbye: str

    def truthful_identity(self, name: str) -> str:
        return self.identity.format(name=name)


@dataclass(frozen=True)
class Words:
    """The word sets of :class:`ceoline.voice.word_rules.WordRules`, lowercase."""

    backchannels: frozenset[str]
    unfinished_endings: frozenset[str]
    # Words that open a turn without saying anything yet ("Honestly..."): a turn of nothing
    # else is a caller gathering their thoughts.
    prefaces: frozenset[str]
    # A last word that is an object as often as a subject ("thank you" / "can you"); it
    # leaves the turn unfinished only after one of ``asking``.
    either_ending: str | None
    asking: frozenset[str]
    stop_request: re.Pattern[str]
    question_openers: re.Pattern[str]


@dataclass(frozen=True)
class CallerRules:
    """What :class:`ceoline.trust.dialogue.DialoguePolicy` listens for. The patterns run on
    lowercase words without punctuation; the callables on the words as heard."""

    check_caller: Callable[[str], CallerVerdict | None]
    refusals: tuple[str, ...]  # every reply ``check_caller`` may give
    wants_human: Callable[[str], bool]
    asks_if_bot: Callable[[str], bool]
    is_goodbye: Callable[[str], bool]
    is_frustrated: Callable[[str], bool]
    yes: re.Pattern[str]
    no: re.Pattern[str]
    confused: re.Pattern[str]
    # Questions of fact about the company that must come from the notes, never the model.
    fact_question: re.Pattern[str]
    # Questions asking for information, not requests or suggestions: unanswered by the
    # notes, the honest reply is "I don't know".
    info_question: re.Pattern[str]
    question_start: re.Pattern[str]
    complaint: re.Pattern[str]
    suggestion: re.Pattern[str]
    praise: re.Pattern[str]
    negated: re.Pattern[str]
    role: re.Pattern[str]  # a role named alone: a who-question missing its frame
    who_is: str  # that frame, with {role}
    # Speech-to-text slips that turn a question into a statement, and their repair.
    repairs: tuple[tuple[re.Pattern[str], str], ...] = ()


@dataclass(frozen=True)
class Language:
    # A language tag as the config names it (config.LANGUAGE_NAMES): ISO 639-1, or a
    # regional variant ("en-gb") that Whisper is told as its language.
    code: str
    lines: FixedLines
    words: Words
    rules: CallerRules
