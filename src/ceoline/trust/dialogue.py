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
from ceoline.trust import guardrails
from ceoline.trust.answers import CompanyAnswers, company_answers
from ceoline.trust.grounding import notes_about

TRANSFERRING = "Of course. I'm transferring you to a person now, please hold on."
TAKE_MESSAGE = (
    "I can't put you through to a person right now, but I can take a message and someone "
    "from the team will call you back. What would you like them to know?"
)
TRANSFER_FAILED = "I'm sorry, I couldn't reach anyone just now. " + TAKE_MESSAGE
MESSAGE_TAKEN = "Thank you, I've passed that on, and someone will call you back."
OFFER_HUMAN = "I'm sorry this is frustrating. Would you like me to put you through to a person?"
OFFER_DECLINED = "No problem. I'm listening, go ahead."
NOT_UNDERSTOOD = "Sorry, I don't think I understood. Would you like me to connect you to a person?"
NOT_CAUGHT = "Sorry, I didn't catch that. Could you say it again?"
DONT_KNOW = (
    "I don't have that in front of me, and I'd rather not guess. I'll pass your question on "
    "to the team."
)


def truthful_identity(persona: Persona) -> str:
    return (
        f"Yes, I'm an AI version of {persona.name}, not the real person. I can pass anything "
        "you tell me on to the team, or connect you to a person if you'd like."
    )


def fixed_replies(persona: Persona) -> list[str]:
    """Every fixed line a decision may speak, so start-up can synthesize them ahead of calls."""
    lines = [TRANSFERRING, TAKE_MESSAGE, TRANSFER_FAILED, MESSAGE_TAKEN, OFFER_HUMAN]
    lines += [OFFER_DECLINED, NOT_UNDERSTOOD, NOT_CAUGHT, DONT_KNOW, truthful_identity(persona)]
    lines += [line for _, said in persona.acknowledgements for line in said]
    return [*lines, *guardrails.caller_replies()]


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


_YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|please|ok|okay|alright|all right|definitely|"
    r"go ahead|that would be (great|good)|i would|i'd like that)\b"
)
_NO = re.compile(r"^\s*(no|nope|nah|not now|no thanks|that's okay|it's fine|i'm fine)\b")
_CONFUSED = re.compile(
    r"\b(that's not what i (asked|said|meant)|you (don't|do not|didn't) (understand|get it)|"
    r"you misunderstood|that doesn't answer|i didn't ask (that|about)|what are you talking about)"
)
# Questions of fact about the company that must come from the notes, never from the model.
_FACT_QUESTION = re.compile(
    r"\b(when|where|who|how many|how much|what year|which year|how long|what is|what's|"
    r"what are|tell me about)\b.*\b(company|quillfern|founded|founder|started|start|"
    r"history|mission|office|headquarters|ceo|employees|customers|price|pricing|cost|"
    r"product|app|launch|launched|values|investors|team)\b"
)


# A question asking for information ("who", "how many"), not a request ("can you add…") or
# a suggestion ("why don't you…"): with nothing in the notes, the honest answer is "I don't
# know", never the model's guess.
_INFO_QUESTION = re.compile(
    r"^(so |and |but |um |uh |okay |ok |hey |hi |well )*(what|when|where|who|whom|whose|which|"
    r"how many|how much|how old|how long|how big|why (?!don't|not|can't|won't)|"
    # "Did you found it alone?", "Is the company profitable?": yes or no is a fact too.
    r"(did|does|is|are|was|were|has|have) (you|your|the|it|they)\b|"
    # "Do you have an office in Germany?"; "do you like your job?" is small talk.
    r"do (you|they) (have|offer|sell|own)\b)\b"
    r"(?!.*\b(if|about|think|feel|idea|suggest\w*|add|could|should|please)\b)"
)
_QUESTION_START = re.compile(
    r"^(so |and |but |um |uh |okay |ok |hey |hi |well )*(what|when|where|who|whom|whose|how|"
    r"why|which|do|does|did|is|are|was|were|can|could|would|will|have|has|tell me)\b"
)
# Complaints and reports are feedback even when phrased as questions ("why is it so slow?").
_COMPLAINT = re.compile(
    r"\b(wrong|broken|broke|crash\w*|bug\w*|doesn't work|does not work|isn't working|"
    r"not working|problem\w*|issue\w*|slow\w*|hate|annoy\w*|confus\w*|frustrat\w*|"
    r"fix|error\w*|fail\w*|missing|stuck|freez\w*)\b"
)


# Praise beyond a plain "thanks", which is as often manners as praise.
_PRAISE = re.compile(
    r"\b(love\w*|great|brilliant|amazing|excellent|awesome|happy|helpful|fantastic|"
    r"wonderful|perfect|easy|nice|good job|well done)\b"
)
_NEGATED = re.compile(r"\b(not|never|no|nothing|hardly)\b|n't\b")


_SUGGESTION = re.compile(
    r"\b(should|could you|can you add|would be (nice|great|good)|please add|i wish|"
    r"it would help|why not|how about|suggest\w*|idea|feature request|add a|support for)\b"
)


def _feedback_kind(text: str) -> str:
    """Complaint, suggestion or praise, as the reply acknowledges it; "" for anything else.

    Praise needs a word of praise: "thanks for taking my call" is manners, and "I'm not
    happy" is no praise."""
    words = _norm(text)
    if _COMPLAINT.search(words):
        return "complaint"
    if _SUGGESTION.search(words):
        return "suggestion"
    if text.rstrip().endswith("?"):
        return ""
    if _PRAISE.search(words) and not _NEGATED.search(words):
        return "praise"
    return ""


# A role named alone ("Your Chief Financial Officer."): Whisper dropped the "who is" in front.
_ROLE = re.compile(
    r"\b(ceo|cto|cfo|chief \w+ officer|co ?founders?|founders?|head of \w+|in charge of)\b"
)
_FRAGMENT_WORDS = 8


def _role_fragment(words: str) -> bool:
    """A few words that name a role and nothing else: a who-question missing its frame."""
    return len(words.split()) <= _FRAGMENT_WORDS and bool(_ROLE.search(words))


def _is_fact_question(text: str, words: str) -> bool:
    asked = text.rstrip().endswith("?") or bool(_QUESTION_START.search(words))
    return asked and not _COMPLAINT.search(words)


# Whisper hears a quick "When was…" as "One was…" or one word (tiny on CTranslate2's AVX-512
# kernels: "Wendwuss"), and "When did…" or "When will…" as one word (tiny: "Wendid",
# "Winded", "Wounded"; base: "Wendet", "Wendell", "Wenwick"); no caller opens a sentence
# that way.
_LEAD_IN = r"^(\W*(?:so|um|uh|and)?\W*)"
_REPAIRS = (
    (re.compile(_LEAD_IN + r"one (was|did|is|were|will|does|do)\b", re.I), r"\1When \2"),
    (
        re.compile(_LEAD_IN + r"(?:winded|wendid|wounded|wenda|wended|wendet|wendell)\b", re.I),
        r"\1When did",
    ),
    (re.compile(_LEAD_IN + r"(?:wenwick|wenwell)\b", re.I), r"\1When will"),
    (re.compile(_LEAD_IN + r"(?:wendwuss|wenwuss|wendwas)\b", re.I), r"\1When was"),
)


def repair_question(text: str) -> str:
    """Undo the speech-to-text slips that turn a question into a statement."""
    for pattern, replacement in _REPAIRS:
        text = pattern.sub(replacement, text)
    return text


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


@dataclass
class DialoguePolicy:
    config: Config
    persona: Persona
    knowledge: object | None = None  # KnowledgeBase; None when there are no notes
    offered: str | None = None  # the escalation reason of a pending "shall I connect you?"
    taking_message: bool = False
    misunderstandings: int = 0
    handoff_started: bool = False
    # The kinds acknowledged so far, to take the persona's lines for each kind in turn.
    acknowledged: tuple[str, ...] = ()
    _log: list[str] = field(default_factory=list)

    def fork(self) -> DialoguePolicy:
        """A copy to decide on ahead of time: adopted if the turn ends as heard, else dropped."""
        return dataclasses.replace(self, _log=list(self._log))

    def decide(self, text: str) -> Decision:
        """What to do with ``text``, the caller's words as heard. A question word or a company
        name heard as a slip is put right first, and the decision says so (``understood``)."""
        repaired = repair_question(text)
        answers = self.answers
        if answers is not None:
            repaired = answers.names.understand(repaired).text
        decision = self._decide(repaired)
        if repaired == text:
            return decision
        return dataclasses.replace(decision, understood=repaired)

    def _decide(self, text: str) -> Decision:
        words = _norm(text)
        if self.taking_message:
            self.taking_message = False
            return Decision(Action.MESSAGE, MESSAGE_TAKEN, "callback")
        verdict = guardrails.check_caller(text)
        if verdict is not None:
            if verdict.handoff:
                self.offered = verdict.handoff
            category = str(verdict.category)  # a StrEnum: its value
            return Decision(
                Action.SAY,
                verdict.reply,
                category,
                keep_in_history=category != "prompt_injection",
                redact=verdict.redact,
            )
        if guardrails.wants_human(text):
            return Decision(Action.HANDOFF, TRANSFERRING, "caller_request")
        if self.offered is not None:
            reason, self.offered = self.offered, None
            if _YES.search(words):
                return Decision(Action.HANDOFF, TRANSFERRING, reason)
            if _NO.search(words):
                return Decision(Action.SAY, OFFER_DECLINED, "offer_declined")
        if guardrails.asks_if_bot(text):
            return Decision(Action.SAY, truthful_identity(self.persona), "identity")
        if guardrails.is_goodbye(text):
            return Decision(Action.GOODBYE, self.persona.goodbye_line, "caller_goodbye")
        if guardrails.is_frustrated(text):
            self.offered = "frustration"
            return Decision(Action.SAY, OFFER_HUMAN, "frustration")
        if _CONFUSED.search(words):
            self.misunderstandings += 1
            if self.misunderstandings >= self.config.handoff.offer_after_misunderstandings:
                self.misunderstandings = 0
                self.offered = "misunderstanding"
                return Decision(Action.SAY, NOT_UNDERSTOOD, "misunderstanding")
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
        limit = self.config.knowledge.max_passages
        notes = tuple(p.text for p in self.knowledge.search(text, limit=limit))
        question = text
        if not _is_fact_question(text, words):
            if not (_role_fragment(words) and not _feedback_kind(text)):
                # Feedback and complaints: the model answers, with what the notes say about it.
                return self._with_notes_about(text, notes)
            question = f"Who is {text.strip().rstrip('.?!')}?"
        answers = self.answers
        opening = answers.opening(question, notes) if answers is not None else None
        if opening is not None:
            # The passage that holds the answer goes first, so the model builds on it.
            holder = answers.passage_of(opening.sentences[0])
            context = (holder, *(n for n in notes if n != holder))[: max(1, limit)]
            return Decision(
                Action.LLM, notes=context, grounded=True, reason="notes", opening=opening.text
            )
        if _FACT_QUESTION.search(words) or _INFO_QUESTION.search(words):
            return Decision(Action.SAY, DONT_KNOW, "no_notes")
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
        kind = _feedback_kind(text)
        lines = self.persona.acknowledgements_for(kind)
        if not lines:
            return ""
        line = lines[self.acknowledged.count(kind) % len(lines)]
        self.acknowledged = (*self.acknowledged, kind)
        return line

    def unheard(self, decision: Decision) -> Decision:
        """``decision`` for words Whisper was guessing at (its log-probability says so). A
        rule's reply, a notes answer and an acknowledged complaint stand; a reply the model
        would make up to a guess becomes a request to say it again, or, repeated, the offer
        of a person."""
        if decision.action is not Action.LLM or decision.grounded or decision.opening:
            return decision
        return self.fell_back() or Decision(Action.SAY, NOT_CAUGHT, "not_caught")

    def fell_back(self) -> Decision | None:
        """The model produced nothing usable: count it as a misunderstanding."""
        self.misunderstandings += 1
        if self.misunderstandings >= self.config.handoff.offer_after_misunderstandings:
            self.misunderstandings = 0
            self.offered = "misunderstanding"
            return Decision(Action.SAY, NOT_UNDERSTOOD, "misunderstanding")
        return None
