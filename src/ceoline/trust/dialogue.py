"""What to do with a caller's words, decided before any model speaks.

The LLM is small and cannot be trusted with the rules that keep callers' trust, so they are
decided here, in code: off-limits requests get fixed, honest replies; a request for a person
starts a handoff; "am I talking to a robot?" gets the truth; a goodbye ends the call; a
question about the company is answered from the knowledge base or not at all. Only what is
left (feedback, complaints, conversation) goes to the LLM, with relevant notes in the prompt.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import Enum

from ceoline.config import Config
from ceoline.persona.profile import Persona
from ceoline.trust.answers import CompanyAnswers, company_answers
from ceoline.trust.grounding import notes_about
from ceoline.trust.languages import ENGLISH, CallerRules, Language


def fixed_replies(persona: Persona, language: Language = ENGLISH) -> list[str]:
    """Every fixed line a decision may speak, so start-up can synthesize them ahead of calls."""
    said = language.lines
    lines = [said.transferring, said.take_message, said.transfer_failed, said.message_taken]
    lines += [said.offer_human, said.offer_declined, said.offer_again, said.not_understood]
    lines += [said.not_caught]
    lines += [said.dont_know, said.truthful_identity(persona.name), said.noted_first, said.noted]
    lines += [said.fallback]
    lines += [line for _, said_ in persona.acknowledgements for line in said_]
    return [*lines, *language.rules.refusals]


class Action(Enum):
    LLM = "llm"  # let the model answer (with notes when there are any)
    SAY = "say"  # speak a fixed reply
    HANDOFF = "handoff"  # say TRANSFERRING (or TAKE_MESSAGE) and transfer
    GOODBYE = "goodbye"  # say the persona's goodbye and hang up
    MESSAGE = "message"  # the caller's words are a message for a callback


@dataclass(frozen=True)
class Decision:
    action: Action
    reply: str = ""
    reason: str = ""  # escalation reason, guardrail category, or why a fixed reply
    keep_in_history: bool = True  # injections never reach the model's context
    notes: tuple[str, ...] = ()
    # Notes that must hold the answer (a question of fact), not just background.
    grounded: bool = False
    redact: bool = False
    # Spoken at once, before the model adds anything: a grounded answer's first words, from
    # the notes and already in the persona's voice, or the persona's acknowledgement of
    # feedback, which the model's reply goes on from.
    opening: str = ""
    # The caller's words as decided on, when a misheard company name was put right
    # ("Wilfern" → "Quillfern"); "" when they were taken as heard.
    understood: str = ""
    # Said in the reply model's place, on a line whose language it does not speak (the notes'
    # answer, or "noted"): an answer, not a rule's reply.
    instead_of_model: bool = False


def _feedback_kind(text: str, rules: CallerRules) -> str:
    """Complaint, suggestion or praise, as the reply acknowledges it; "" for anything else.

    Praise needs a word of praise: "thanks for taking my call" is manners, and "I'm not
    happy" is no praise."""
    words = _norm(text)
    if rules.complaint.search(words):
        return "complaint"
    if rules.suggestion.search(words):
        return "suggestion"
    if text.rstrip().endswith("?"):
        return ""
    if rules.praise.search(words) and not rules.negated.search(words):
        return "praise"
    return ""


_FRAGMENT_WORDS = 8


def _role_fragment(words: str, rules: CallerRules) -> bool:
    """A few words that name a role and nothing else: a who-question missing its frame."""
    return len(words.split()) <= _FRAGMENT_WORDS and bool(rules.role.search(words))


def _is_fact_question(text: str, words: str, rules: CallerRules) -> bool:
    asked = text.rstrip().endswith("?") or bool(rules.question_start.search(words))
    return asked and not rules.complaint.search(words)


def repair_question(text: str, language: Language = ENGLISH) -> str:
    """Undo the speech-to-text slips that turn a question into a statement."""
    for pattern, replacement in language.rules.repairs:
        text = pattern.sub(replacement, text)
    return text


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


@dataclass
class DialoguePolicy:
    config: Config
    persona: Persona
    knowledge: object | None = None  # KnowledgeBase; None when there are no notes
    language: Language = ENGLISH  # the line's: what the rules listen for, what is said
    # False on a line whose language the reply model does not speak: what the model would
    # answer becomes the notes' answer, the persona's acknowledgement, or "noted".
    model_replies: bool = True
    offered: str | None = None  # the escalation reason of a pending "shall I connect you?"
    taking_message: bool = False
    misunderstandings: int = 0
    handoff_started: bool = False
    # The kinds acknowledged so far, to take the persona's lines for each kind in turn.
    acknowledged: tuple[str, ...] = ()
    noted: int = 0  # feedback kept without a model reply, to say what the line does once
    _log: list[str] = field(default_factory=list)

    def fork(self) -> DialoguePolicy:
        """A copy to decide on ahead of time: adopted if the turn ends as heard, else dropped."""
        return dataclasses.replace(self, _log=list(self._log))

    def decide(self, text: str) -> Decision:
        """What to do with ``text``, the caller's words as heard. A question word or a company
        name heard as a slip is put right first, and the decision says so (``understood``)."""
        repaired = repair_question(text, self.language)
        answers = self.answers
        if answers is not None:
            repaired = answers.names.understand(repaired).text
        decision = self._decide(repaired)
        if not self.model_replies:
            decision = self._without_model(decision)
        if repaired == text:
            return decision
        return dataclasses.replace(decision, understood=repaired)

    def _decide(self, text: str) -> Decision:
        words = _norm(text)
        rules, said = self.language.rules, self.language.lines
        if self.taking_message:
            self.taking_message = False
            return Decision(Action.MESSAGE, said.message_taken, "callback")
        verdict = rules.check_caller(text)
        if verdict is not None:
            pressed = verdict.handoff is not None and verdict.handoff == self.offered
            if pressed and rules.yes.search(words):
                self.offered = None
                return Decision(Action.HANDOFF, said.transferring, verdict.handoff)
            if verdict.handoff:
                self.offered = verdict.handoff
            category = str(verdict.category)  # a StrEnum: its value
            return Decision(
                Action.SAY,
                # The same refusal twice in a row sounds like a machine stuck in a loop.
                said.offer_again if pressed else verdict.reply,
                category,
                keep_in_history=category != "prompt_injection",
                redact=verdict.redact,
            )
        if rules.wants_human(text):
            return Decision(Action.HANDOFF, said.transferring, "caller_request")
        if self.offered is not None:
            reason, self.offered = self.offered, None
            if rules.yes.search(words):
                return Decision(Action.HANDOFF, said.transferring, reason)
            if rules.no.search(words):
                return Decision(Action.SAY, said.offer_declined, "offer_declined")
        if rules.asks_if_bot(text):
            identity = said.truthful_identity(self.persona.name)
            return Decision(Action.SAY, identity, "identity")
        if rules.is_goodbye(text):
            return Decision(Action.GOODBYE, self.persona.goodbye_line, "caller_goodbye")
        if rules.is_frustrated(text):
            self.offered = "frustration"
            return Decision(Action.SAY, said.offer_human, "frustration")
        if rules.confused.search(words):
            self.misunderstandings += 1
            if self.misunderstandings >= self.config.handoff.offer_after_misunderstandings:
                self.misunderstandings = 0
                self.offered = "misunderstanding"
                return Decision(Action.SAY, said.not_understood, "misunderstanding")
        return self._answer(text, words)

    @property
    def answers(self) -> CompanyAnswers | None:
        """The notes as answers to company questions; None when there are no notes."""
        if self.knowledge is None:
            return None
        return company_answers(
            self.knowledge, self.persona.name, self.persona.company, self.persona.facts
        )

    def _answer(self, text: str, words: str) -> Decision:
        if self.knowledge is None:
            # No notes configured: the persona prompt is all.
            return Decision(Action.LLM, opening=self._acknowledgement(text))
        rules = self.language.rules
        limit = self.config.knowledge.max_passages
        notes = tuple(p.text for p in self.knowledge.search(text, limit=limit))
        question = text
        if not _is_fact_question(text, words, rules):
            if not (_role_fragment(words, rules) and not _feedback_kind(text, rules)):
                # Feedback and complaints: the model answers, with what the notes say about it.
                return self._with_notes_about(text, notes)
            question = rules.who_is.format(role=text.strip().rstrip(".?!"))
        answers = self.answers
        opening = answers.opening(question, notes) if answers is not None else None
        if opening is not None:
            # The passage that holds the answer goes first, so the model builds on it.
            holder = answers.passage_of(opening.sentences[0])
            context = (holder, *(n for n in notes if n != holder))[: max(1, limit)]
            return Decision(
                Action.LLM, notes=context, grounded=True, reason="notes", opening=opening.text
            )
        if rules.fact_question.search(words) or rules.info_question.search(words):
            return Decision(Action.SAY, self.language.lines.dont_know, "no_notes")
        return self._with_notes_about(text, notes)

    def _with_notes_about(self, text: str, passages: tuple[str, ...]) -> Decision:
        notes = notes_about(text, passages, self.config.knowledge.max_sentences)
        return Decision(
            Action.LLM,
            notes=notes,
            reason="notes" if notes else "",
            opening=self._acknowledgement(text),
        )

    def _acknowledgement(self, text: str) -> str:
        """The persona's line for a complaint, suggestion or praise, the next in turn; "" for
        anything else (a greeting, a question, small talk), which the model answers whole."""
        kind = _feedback_kind(text, self.language.rules)
        lines = self.persona.acknowledgements_for(kind)
        if not lines:
            return ""
        line = lines[self.acknowledged.count(kind) % len(lines)]
        self.acknowledged = (*self.acknowledged, kind)
        return line

    def _without_model(self, decision: Decision) -> Decision:
        """What the model would have answered, said without it: a notes answer is its own
        opening; anything else is acknowledged (the persona's line when there is one) and
        kept, and the first time the caller hears what this line can and cannot do."""
        if decision.action is not Action.LLM:
            return decision
        if decision.grounded:
            return dataclasses.replace(
                decision, action=Action.SAY, reply=decision.opening, instead_of_model=True
            )
        said = self.language.lines
        noted = said.noted if self.noted else said.noted_first
        self.noted += 1
        reply = f"{decision.opening} {noted}" if decision.opening else noted
        return dataclasses.replace(
            decision, action=Action.SAY, reply=reply, reason="noted", instead_of_model=True
        )

    def unheard(self, decision: Decision) -> Decision:
        """``decision`` for words Whisper was guessing at (its log-probability says so). A
        rule's reply, a notes answer and an acknowledged complaint stand; a reply the model
        would make up to a guess (or a "noted" to one) becomes a request to say it again, or,
        repeated, the offer of a person."""
        guessed = decision.action is Action.LLM or decision.reason == "noted"
        if not guessed or decision.grounded or decision.opening:
            return decision
        said = self.language.lines
        return self.fell_back() or Decision(Action.SAY, said.not_caught, "not_caught")

    def fell_back(self) -> Decision | None:
        """The model produced nothing usable: count it as a misunderstanding."""
        self.misunderstandings += 1
        if self.misunderstandings >= self.config.handoff.offer_after_misunderstandings:
            self.misunderstandings = 0
            self.offered = "misunderstanding"
            return Decision(Action.SAY, self.language.lines.not_understood, "misunderstanding")
        return None
