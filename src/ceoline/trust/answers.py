"""Company questions answered from the notes: the sentence to say at once, or an honest no.

A caller's question is matched against every sentence of the notes (a few hundred at most,
so scanning them costs well under a millisecond next to Whisper's hundreds): the words they
share, rarer words and names weighing more, a sentence of the kind the question asks for
("when" wants a year, "how many" a number) preferred, and the passages the full-text index
ranks first given a head start. The winner is spoken in the persona's voice before the model
has said a word; when nothing covers enough of the question, or the caller names something
the notes never mention ("our office in Germany"), the answer is an honest "I don't know".
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from ceoline.trust import guardrails
from ceoline.trust.facts import Token, stem, tokens
from ceoline.trust.grounding import (
    QUESTION_FILLER,
    STOPWORDS,
    NotesCheck,
    in_persona_voice,
    proper_names,
    question_words,
    split_sentences,
    unknown_names,
)
from ceoline.trust.names import CompanyNames, notes_words

# "when" wants a year, "how many" a number; a sentence without one does not answer.
_LEAD = r"^(?:(?:so|and|but|um|uh|okay|ok|well|hi|hey|like|right)\W+)*"
_WANTS = (
    (re.compile(_LEAD + r"when\b|\b(what year|which year|since when)\b"), "year"),
    (re.compile(r"\b(how many|how much|how big|how large)\b"), "number"),
)
_WHO = re.compile(r"\b(who|whom|whose|where|which city|what city)\b")
_WHY = re.compile(r"\b(why|what made you|how come|what led you)\b")
_REASON = re.compile(r"\b(because|hated|wanted|so that|tired of|stands for|reason)\b", re.I)
# A short sentence that announces a list ("We have four values.") needs the next one.
_ANNOUNCES = re.compile(r"\b(two|three|four|five|six) (things|values|plans|parts)\b", re.I)


@dataclass(frozen=True)
class Opening:
    """What to say first: one or two notes sentences, already in the persona's voice."""

    text: str
    sentences: tuple[str, ...]  # as the notes write them
    coverage: float


_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip
_HOW_MANY = re.compile(r"\bhow (?:many|big|large)\b")
_PRONOUN = re.compile(r"(?:She|He|They|It)\b")


class CompanyAnswers:
    """Every sentence of the notes (and the persona's own facts), ready to be matched.

    ``passages`` are (heading, text) pairs: a heading ("Funding", "Offices") says what its
    sentences are about even where they do not repeat it.
    """

    def __init__(
        self,
        passages: list[tuple[str, str]],
        persona_name: str,
        company: str,
        min_coverage: float = 0.5,
    ):
        self.persona_name = persona_name
        self.company = company
        self.min_coverage = min_coverage
        self.passages = [text for _, text in passages]
        self.check = NotesCheck(tuple(self.passages), company, persona_name)
        self._owner: list[int] = []  # sentence index -> passage index
        for i, passage in enumerate(self.passages):
            self._owner += [i] * len(split_sentences((passage,)))
        self._keys = [{t.key for t in toks} for toks in self.check.sentence_tokens]
        self._passage_keys = [words_of(text) for text in self.passages]
        self._heading_keys = [words_of(heading) for heading, _ in passages]
        self._words = set().union(*self._keys) if self._keys else set()
        # Every name the notes use, not only the hotwords' first 48.
        texts = [persona_name, company, *self.passages]
        self.names = CompanyNames(
            [persona_name, company, *proper_names(texts, limit=1000)], notes_words(texts)
        )

    def opening(self, question: str, ranked: tuple[str, ...] = ()) -> Opening | None:
        """The best answer to ``question`` from the notes, or None when they do not have it.

        ``ranked`` are the passages the full-text index found for the question, best first.
        """
        if unknown_names(question, self.check, self._words):
            return None
        asked = {
            w
            for w in question_words(question, self.company) - QUESTION_FILLER
            if not _like_the_company(w, self.check.company)
        }
        # "Hi Theo, how did it start?" addresses the persona; it does not ask about him.
        about = asked - {stem(w) for w in self.persona_name.split()}
        asked = about or asked
        n = len(self.check.sentences)
        if not asked or not n:
            return None
        weight = {}
        for word in asked:
            df = sum(word in keys for keys in self._keys)
            weight[word] = math.log(1 + n / (1 + df)) * (2 if word in self.check.names else 1)
        total = sum(weight.values())
        lowered = question.lower()
        wants = next((kind for pattern, kind in _WANTS if pattern.search(lowered)), None)
        counted = _counted(question)
        head_start = {p: (len(ranked) - r) / len(ranked) for r, p in enumerate(ranked)}

        def cover(keys: set[str]) -> float:
            return sum(w for word, w in weight.items() if word in keys) / total

        best, best_score, best_cover = None, 0.0, 0.0
        for i in range(n):
            toks = self.check.sentence_tokens[i]
            sentence_cover = cover(self._keys[i])
            owner = self._owner[i]
            passage_cover = cover(self._passage_keys[owner] | self._heading_keys[owner])
            reason = _WHY.search(lowered) and _REASON.search(self.check.sentences[i])
            if sentence_cover == 0 and not (reason and passage_cover > 0):
                continue
            facts = self.check.facts(toks)
            kinds = {f.kind for f in facts}
            if wants and wants not in kinds:
                continue
            score = sentence_cover + 0.4 * passage_cover + 0.4 * cover(self._heading_keys[owner])
            score += 0.3 * head_start.get(self.passages[owner], 0)
            if counted and _counts(toks, counted):
                score += 0.6
                # "How many people work at Quillfern?" is not "…in Bristol": a count
                # scoped to a place or team the caller did not name answers less.
                score -= 0.15 * len({f.key for f in facts if f.kind == "name"} - asked)
            if _WHO.search(lowered) and any(
                f.kind == "name" and f.key not in _MONTHS for f in facts
            ):
                score += 0.25
            if reason:
                score += 1.2
            if score > best_score:
                best, best_score = i, score
                best_cover = max(sentence_cover, (sentence_cover + passage_cover) / 2)
        if best is None or best_cover < self.min_coverage:
            return None
        chosen = [best]
        # "She still leads the engineering teams" says who only with the sentence before.
        opens_with_pronoun = _PRONOUN.match(self.check.sentences[best])
        if opens_with_pronoun and best > 0 and self._owner[best - 1] == self._owner[best]:
            chosen.append(best - 1)
        # A neighbour in the same passage that holds what the best sentence lacks:
        # "support hours" spread over "available Monday to Friday" and "outside those hours".
        missing = {w for w in asked if w not in self._keys[best]}
        for j in (best - 1, best + 1):
            if len(chosen) > 1 or not 0 <= j < n or self._owner[j] != self._owner[best]:
                continue
            if wants and not (j == best + 1 and _ANNOUNCES.search(self.check.sentences[best])):
                continue  # a neighbour's year or figure would compete with the answer
            if (missing and missing & self._keys[j]) or (
                j == best + 1 and _ANNOUNCES.search(self.check.sentences[best])
            ):
                chosen.append(j)
                break
        sentences = tuple(self.check.sentences[k] for k in sorted(chosen))
        spoken = " ".join(in_persona_voice(s, self.persona_name, self.company) for s in sentences)
        return Opening(spoken, sentences, best_cover)

    def passage_of(self, sentence: str) -> str:
        """The passage a notes sentence comes from, to put beside the question for the model."""
        for i, s in enumerate(self.check.sentences):
            if s == sentence:
                return self.passages[self._owner[i]]
        return ""


def _like_the_company(word: str, company: str) -> bool:
    """Whisper's "Quilford" or "Quill fern" is the company, which says nothing by itself."""
    return bool(company) and difflib.SequenceMatcher(None, word, company).ratio() > 0.6


def _counted(question: str) -> str | None:
    """What "how many" counts: the first content word after it ("how many people work")."""
    match = _HOW_MANY.search(question.lower())
    if match is None:
        return None
    for t in tokens(question.lower()[match.end() :]):
        if not t.number and t.lower not in STOPWORDS and t.key not in QUESTION_FILLER:
            return t.key
    return None


def _counts(toks: list[Token], counted: str) -> bool:
    """Does a number in ``toks`` count ``counted`` ("forty thousand small businesses")?"""
    for i, t in enumerate(toks):
        if t.number and any(u.key == counted for u in toks[i + 1 : i + 4]):
            return True
    return False


def words_of(text: str) -> set[str]:
    return {t.key for t in tokens(text)}


_CACHE: dict[tuple[int, int, str, str, tuple[str, ...]], CompanyAnswers] = {}


def company_answers(knowledge, persona_name: str, company: str, facts: tuple[str, ...] = ()):
    """The answers for this knowledge base and persona, built once per version of the notes
    (the notes and the persona's own facts are read once, not on every call). Lines that
    share notes but not a persona keep one each."""
    key = (id(knowledge), knowledge.generation, persona_name, company, tuple(facts))
    answers = _CACHE.get(key)
    if answers is None:
        passages = [(p.heading, p.text) for p in knowledge.passages()]
        if facts:
            passages.append(("", " ".join(facts)))
        answers = CompanyAnswers(passages, persona_name, company)
        for stale in [k for k in _CACHE if k[0] == key[0] and k[1] != key[1]]:
            del _CACHE[stale]
        _CACHE[key] = answers
    return answers


def may_follow(
    check: NotesCheck, sentence: str, spoken: str, question: str = ""
) -> tuple[bool, str]:
    """May the model's ``sentence`` follow what was ``spoken`` of a company answer?

    Only when no bot-side rule forbids it, one notes sentence backs every claim in it, it
    says something not said yet, and, when the caller asked "when" or "how many", it brings
    no second year or figure to compete with the answer. Returns (verdict, why not).
    """
    if guardrails.check_bot(sentence) is not None:
        return False, "a bot-side rule"
    if check.supporting(sentence) is None:
        return False, check.why_not(sentence)
    if not check.adds_to(sentence, spoken):
        return False, "nothing new"
    wants = next((k for pattern, k in _WANTS if pattern.search(question.lower())), None)
    if wants:
        known = {f.key for f in check.facts(tokens(spoken))}
        rival = [f.key for f in check.facts(tokens(sentence)) if f.kind == wants]
        if any(key not in known for key in rival):
            return False, f"a second {wants} would compete with the answer"
    return True, ""
