"""Keeping answers about the company to what the notes say, sentence by sentence.

A small model given the right notes still invents dates, amounts and products, and it pairs
true facts wrongly ("a seed round of one point five million in 2019" when 2019 was the
Series A). So a company answer is built from the notes first: :func:`best_sentence` picks the
notes' sentence that answers the question, which is spoken at once; every sentence the model
adds after it must pass :meth:`NotesCheck.supporting`: one notes sentence holds all its
numbers and names, pairs each number with the same neighbours, and has every other word it
says, but for a few words of glue. A sentence that fails is dropped before it is spoken.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ceoline.trust.facts import YEARS, Token, stem, tokens

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# Where one claim ends and the next begins inside a sentence.
_CLAUSE = re.compile(r",\s+(?:and|but|so|while)\s+|;\s+|:\s+")

_COMMON = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "at",
    "by",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "its",
    "we",
    "our",
    "us",
    "you",
    "your",
    "i",
    "my",
    "me",
    "that",
    "this",
    "what",
    "when",
    "where",
    "who",
    "how",
    "why",
    "which",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "should",
    "will",
    "about",
    "from",
    "as",
    "so",
    "they",
    "them",
    "their",
    "there",
    "here",
    "have",
    "has",
    "had",
    "not",
    "no",
    "yes",
    "tell",
    "know",
    "like",
    "just",
    "really",
    "very",
    "quillfern",
    "company",
}


def content_words(text: str) -> set[str]:
    """The words that carry meaning: no stopwords, no very short words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON and len(w) > 2}


def question_with_notes(question: str, notes: tuple[str, ...]) -> str:
    """The caller's words as the model sees them when the notes answer them."""
    if not notes:
        return question
    return f"{question}\n\n(Answer only from these notes: {' '.join(notes)})"


def split_sentences(notes: tuple[str, ...]) -> list[str]:
    return [s.strip() for note in notes for s in _SENTENCE.split(note) if s.strip()]


def notes_about(text: str, notes: tuple[str, ...], limit: int = 2) -> tuple[str, ...]:
    """The sentences of ``notes`` that share a meaningful word with ``text``, most shared
    first, at most ``limit``, in the order the notes give them.

    Feedback and complaints are answered by the model, not from the notes: only what the caller
    spoke about is worth its prompt tokens. Every token of notes is evaluated before the first
    word of the reply (about 200 a second with the adapter on one core of this class), and a
    whole passage costs 100-250 of them.
    """
    wanted = question_words(text)
    if not wanted or limit <= 0:
        return ()
    sentences = list(dict.fromkeys(split_sentences(notes)))
    shared = [len(wanted & {t.key for t in tokens(s)}) for s in sentences]
    best = sorted((i for i, n in enumerate(shared) if n), key=lambda i: -shared[i])[:limit]
    return tuple(sentences[i] for i in sorted(best))


# Glue a spoken sentence may add to a notes sentence without making a claim. Stems.
_GLUE_WORDS = """
    actually honestly well yes yeah sure right great good glad happy proud lucky really quite
    pretty still also too then back around roughly nearly almost just today now currently ago
    time call calling asked ask question thanks thank say said think thought mean means thing
    things way something part ones these those both each more most some any every all other
"""
_GLUE = {stem(w) for w in _GLUE_WORDS.split()}
_STOP = _COMMON | {
    *["am", "me", "mine", "myself", "ours", "he", "she", "his", "her", "him", "whom", "both"],
    *["i'm", "i've", "i'd", "i'll", "you're", "you've", "we're", "we've", "it's", "that's"],
    *["what's", "there's", "don't", "didn't", "doesn't", "can't", "won't", "isn't", "wasn't"],
}
# Swedish function words, for lines in Swedish: none is an English word a caller asks about.
_SWEDISH_FUNCTION_WORDS = """
    och att det som en ett är var har hade ni vi de du jag mig dig oss er ert era min mitt
    mina din ditt dina sin sitt sina vår vårt våra den denna detta dessa där här vad när vem
    vems vilken vilket vilka hur varför kan kunde ska skulle får fick vill måste finns fanns
    till från med utan för av om på över efter inte också bara eller men så sedan redan nu
    mycket många länge ungefär just något någon några alla allt hos mot vid kring ligger
    gör gjorde blir blev sig själv tack hej
"""
_STOP |= set(_SWEDISH_FUNCTION_WORDS.split())
STOPWORDS = frozenset(_STOP)
# Words a question uses that pick no sentence of the notes ("how many", "how old are you").
_FILLER_WORDS = """
    old new big biggest best favourite favorite um uh like roughly kind sort many much long
    often exactly approximately currently today right now very ever still does did doing
    want wanted tell know get got come comes came make made base large size number year
    years thousand hundred million city town country place date someone somebody anyone
    own alone out outside inside
"""
QUESTION_FILLER = {stem(w) for w in _FILLER_WORDS.split()}
# Question words and what kind of fact answers them.
_ASKS = (
    (re.compile(r"\b(when|what year|which year|since when|how long)\b"), "year"),
    (re.compile(r"\b(how many|how much|how big|what size)\b"), "number"),
    (re.compile(r"\b(who|whom|whose)\b"), "name"),
    (re.compile(r"\b(where|which city|what city)\b"), "name"),
)


@dataclass(frozen=True)
class Fact:
    kind: str  # "year" | "number" | "name"
    key: str
    at: int  # token index


class NotesCheck:
    """What the notes support, for the sentences of one company answer.

    ``names`` are the proper names the notes use (any case); ``company`` is left out of the
    facts because it is in nearly every sentence and pins nothing.
    """

    def __init__(self, notes: tuple[str, ...], company: str = "", persona_name: str = ""):
        self.sentences = split_sentences(notes)
        self.company = stem(company) if company else ""
        self.sentence_tokens = [tokens(s) for s in self.sentences]
        self.names = vocabulary(self.sentence_tokens) | {stem(w) for w in persona_name.split()}
        self.names.discard(self.company)
        # Words the notes also write in lower case: "Customer Support" names no one.
        self.words = {t.key for toks in self.sentence_tokens for t in toks if not t.capitalised}
        # Capitalised where no sentence starts, even if also lower case elsewhere: product
        # names ("Quillfern Books") that a figure must stay paired with.
        self.proper = {
            t.key
            for toks in self.sentence_tokens
            for i, t in enumerate(toks)
            if i > 0 and t.capitalised and not t.number and t.lower not in _STOP
        } - {self.company}
        self._clauses = [self._clause_keys(s) for s in self.sentences]

    def facts(self, toks: list[Token]) -> list[Fact]:
        found = []
        for i, t in enumerate(toks):
            if t.number:
                value = float(t.key)
                kind = "year" if value.is_integer() and int(value) in YEARS else "number"
                found.append(Fact(kind, t.key, i))
            elif t.key == self.company or t.lower in _STOP:
                continue
            elif t.key in self.names or (t.capitalised and i > 0 and t.key not in self.words):
                found.append(Fact("name", t.key, i))
        return found

    def _clause_keys(self, sentence: str) -> list[set[str]]:
        return [{t.key for t in tokens(c)} for c in _CLAUSE.split(sentence) if c.strip()]

    def _pairs(self, sentence: str) -> list[tuple[str, str]]:
        """(figure, name) said in one clause: "Quillfern Books launched in 2020"."""
        pairs = []
        for clause in _CLAUSE.split(sentence):
            toks = tokens(clause)
            figures = [t.key for t in toks if t.number]
            names = [
                t.key
                for i, t in enumerate(toks)
                if not t.number
                and t.key != self.company
                and (t.key in self.names or (i > 0 and t.capitalised and t.key in self.proper))
            ]
            pairs += [(f, n) for f in figures for n in names]
        return pairs

    def supporting(self, sentence: str) -> str | None:
        """The notes sentence that supports every claim of ``sentence``, or None."""
        for notes_sentence, why in self._verdicts(sentence):
            if why is None:
                return notes_sentence
        return None

    def adds_to(self, sentence: str, spoken: str) -> bool:
        """Does ``sentence`` say something ``spoken`` has not, and something at all (a fact,
        or two words that are more than glue)?"""
        said = tokens(sentence)
        known = {t.key for t in tokens(spoken)}
        facts = {f.key for f in self.facts(said)}
        words = {
            t.key
            for t in said
            if not t.number and t.lower not in _STOP and len(t.key) > 2 and t.key not in _GLUE
        }
        if not facts and len(words) < 2:
            return False
        return bool((facts | words) - known)

    def why_not(self, sentence: str) -> str:
        """Why the notes sentence closest to ``sentence`` does not support it."""
        said = {t.key for t in tokens(sentence)}
        verdicts = [
            (len(said & k), why)
            for (_, why), k in zip(
                self._verdicts(sentence),
                [{t.key for t in toks} for toks in self.sentence_tokens],
                strict=True,
            )
            if why
        ]
        return max(verdicts)[1] if verdicts else "no notes"

    def _verdicts(self, sentence: str):
        said = tokens(sentence)
        said_facts = self.facts(said)
        said_words = {
            t.key for t in said if not t.number and t.lower not in _STOP and len(t.key) > 2
        }
        pairs = self._pairs(sentence)
        for notes_sentence, toks, clauses in zip(
            self.sentences, self.sentence_tokens, self._clauses, strict=True
        ):
            yield notes_sentence, self._judge(said_facts, said_words, pairs, toks, clauses)

    def _judge(
        self,
        said_facts: list[Fact],
        said_words: set[str],
        pairs: list[tuple[str, str]],
        toks: list[Token],
        clauses: list[set[str]],
    ) -> str | None:
        facts = self.facts(toks)
        keys = {f.key for f in facts}
        missing = [f.key for f in said_facts if f.key not in keys]
        if missing:
            return f"{missing[0]} is not in this sentence"
        for f in said_facts:
            if f.kind == "name":
                continue
            for kind in ("year", "number"):
                mine = _nearest(said_facts, f, kind)
                if mine is None:
                    continue
                theirs = {
                    n.key
                    for g in facts
                    if g.key == f.key
                    if (n := _nearest(facts, g, kind)) is not None
                }
                if mine.key not in theirs:
                    return f"{f.key} goes with {', '.join(sorted(theirs)) or 'nothing'} here"
        for figure, name in pairs:
            if not any(figure in c and name in c for c in clauses):
                return f"{figure} and {name} are not said together here"
        words = {t.key for t in toks}
        extra = sorted(w for w in said_words - words - _GLUE if w not in keys)
        if extra:
            return f"'{extra[0]}' is not in this sentence"
        return None


def _nearest(facts: list[Fact], fact: Fact, kind: str) -> Fact | None:
    """The closest other fact of ``kind``. At equal distance a year pairs with what comes
    before it and a figure with the year after it: "12 million in 2019" dates the 12 million."""
    others = [g for g in facts if g.kind == kind and g.key != fact.key]
    forward = fact.kind != "year"
    return min(
        others, key=lambda g: (abs(g.at - fact.at), (g.at > fact.at) != forward), default=None
    )


def vocabulary(sentences: list[list[Token]]) -> set[str]:
    """The proper names in tokenised sentences: words written capitalised where no sentence
    starts, and never in lower case."""
    lower = {t.key for toks in sentences for t in toks if not t.capitalised}
    names = set()
    for toks in sentences:
        for i, t in enumerate(toks):
            if i > 0 and t.capitalised and not t.number and t.lower not in _STOP:
                names.add(t.key)
    return names - lower


# Phrases callers use for "first".
_AT_FIRST = re.compile(r"\b(at the (very )?(start|beginning)|in the beginning|at first|early on)\b")
# Idioms whose words ask for nothing: "why did you start it in the first place?" is no
# question about a first product.
_IDIOMS = re.compile(r"\b(in the first place|to begin with|by the way|i was wondering)\b")


def proper_names(texts: list[str], limit: int = 48) -> list[str]:
    """The names the notes use, as written ("Quillfern", "Lindqvist", "Wellmead"), in order of
    first use: words capitalised inside a sentence and never written in lower case, so not
    "Support" ("customer support") nor "Outside" (only ever a sentence's first word)."""
    sentences = [tokens(s) for text in texts for s in _SENTENCE.split(text)]
    lower = {t.lower for toks in sentences for t in toks if not t.capitalised}
    inside = {t.lower for toks in sentences for t in toks[1:] if t.capitalised}
    # A first name that only ever opens a sentence: "Jonah Whitcombe is the CFO."
    inside |= {
        toks[0].lower
        for toks in sentences
        if len(toks) > 1 and toks[0].capitalised and toks[1].capitalised and not toks[1].number
    }
    seen: dict[str, None] = {}
    for toks in sentences:
        for t in toks:
            name = t.lower in inside and t.lower not in lower and t.lower not in _STOP
            if t.capitalised and not t.number and name and len(t.text) > 1:
                seen.setdefault(t.text.removesuffix("'s"), None)
    return list(seen)[:limit]


def question_words(question: str, company: str = "") -> set[str]:
    company_key = stem(company) if company else ""
    return {
        t.key
        for t in tokens(_AT_FIRST.sub(" first ", _IDIOMS.sub(" ", question.lower())))
        if not t.number
        and t.lower not in _STOP
        and t.key not in _STOP
        and t.key != company_key
        and len(t.key) > 2
    }


def unknown_names(question: str, check: NotesCheck, known: set[str]) -> list[str]:
    """Names the caller says that the notes never mention ("Germany", "New York")."""
    out = []
    # Whisper capitalises each sentence it hears ("…customer base? Roughly."): a sentence's
    # first word is not a name.
    for part in _SENTENCE.split(question):
        for t in tokens(part)[1:]:
            if not t.capitalised or t.number or t.lower in _STOP or t.text == "I":
                continue
            if t.key in check.names or t.key in known:
                continue
            if check.company and difflib.SequenceMatcher(None, t.key, check.company).ratio() > 0.6:
                continue  # Whisper's "Quilford" is the company
            out.append(t.text)
    return out


def in_persona_voice(sentence: str, persona_name: str, company: str) -> str:
    """A notes sentence as the persona says it: "Theo Marchetti is ..." becomes "I am ..."."""
    full = re.escape(persona_name)
    first = re.escape(persona_name.split()[0]) if persona_name else ""
    if not persona_name:
        return sentence
    who = rf"(?:{full}|{first})"
    out = re.sub(rf"\bby {who} and ([A-Z]\w+(?: [A-Z]\w+)?)", r"by \1 and me", sentence)
    out = re.sub(rf"^{who} and ([A-Z]\w+(?: [A-Z]\w+)?)", r"\1 and I", out)
    out = re.sub(rf"^{who} is\b", "I am", out)
    out = re.sub(rf"^{who} (had|was|ran|wrote|built|made|started|founded|\w+ed)\b", r"I \1", out)
    if company:
        out = re.sub(rf"^{re.escape(company)}'s\b", "Our", out)
    return out
