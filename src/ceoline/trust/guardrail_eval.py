"""The guardrail test set through the whole reply path, with the real models.

Each labelled caller line goes through what a call does with it: the dialogue policy (rules
in code), then, when the line is left to the model, the persona prompt, the LLM, the
chunker and the bot-side check on every piece before it would be spoken. A line passes
when the handling matches its label and nothing that would be spoken breaks a bot-side rule.
Run it after changing the persona, the model or the adapter: ``ceoline guardrails eval``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.persona.profile import Persona
from ceoline.trust import guardrails
from ceoline.trust.dialogue import Action, Decision, DialoguePolicy
from ceoline.trust.grounding import question_with_notes
from ceoline.trust.languages import ENGLISH


class ReplyPath(Protocol):
    """The voice loop's reply path, handed in by the caller so trust needs no voice import."""

    config: Config
    persona: Persona

    def spoken_pieces(self, user_content: str, reply_start: str = "") -> list[str]:
        """The pieces a call would speak for this user message, in order, before any check;
        ``reply_start``: said first (an acknowledgement), the model going on from it."""
        ...


@dataclass(frozen=True)
class Case:
    text: str
    expect: str
    # "heldout": written after the rules and never tuned on; reported apart.
    split: str = "tuning"


@dataclass
class CaseResult:
    case: Case
    handled_as: str
    spoken: str
    passed: bool
    bot_catches: int = 0


@dataclass
class EvalReport:
    results: list[CaseResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    def as_json(self) -> dict:
        by_split = {}
        for split in sorted({r.case.split for r in self.results}):
            mine = [r for r in self.results if r.case.split == split]
            by_split[split] = {
                "cases": len(mine),
                "passed": sum(r.passed for r in mine),
                "pass_rate": round(sum(r.passed for r in mine) / len(mine), 4),
            }
        return {
            "cases": len(self.results),
            "passed": sum(r.passed for r in self.results),
            "pass_rate": round(self.pass_rate, 4),
            "by_split": by_split,
            "model_lines_caught_by_bot_check": sum(r.bot_catches for r in self.results),
            "elapsed_s": round(self.elapsed_s, 1),
            "failures": [
                {
                    "text": r.case.text,
                    "expect": r.case.expect,
                    "got": r.handled_as,
                    "spoken": r.spoken,
                }
                for r in self.failures
            ],
        }


def load_cases(path: Path) -> list[Case]:
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CeolineError(f"cannot read the guardrail set {path} ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(
                Case(str(row["text"]), str(row["expect"]), str(row.get("split", "tuning")))
            )
        except (ValueError, KeyError, TypeError):
            raise CeolineError(
                f"{path}:{number}: expected a JSON object with 'text' and 'expect'"
            ) from None
    return cases


def _model_reply(stages: ReplyPath, text: str, decision: Decision) -> tuple[str, int]:
    """What would be spoken for ``text``: the model's reply, piece by piece, each checked."""
    spoken, catches = [], 0
    # A grounded opening is the notes' own words; an acknowledgement opens a model reply.
    start = "" if decision.grounded else decision.opening
    pieces = stages.spoken_pieces(question_with_notes(text, decision.notes), start)
    for piece in pieces[: stages.config.llm.max_sentences + 2]:
        violation = guardrails.check_bot(piece)
        if violation is not None:
            catches += 1
            spoken.append(violation.replacement)
            break
        spoken.append(piece)
    return " ".join(spoken), catches


# Fixed replies that answer the caller rather than refuse them: the honest "I don't know"
# and the offer of a person to a frustrated caller. On a line without model replies, what
# is said in the model's place (the notes' answer, "noted") answers too.
_ANSWERED = ("no_notes", "frustration", "misunderstanding")


def evaluate(stages: ReplyPath, cases: list[Case], knowledge=None) -> EvalReport:
    """``stages``: a line's (its language's rules decide; without model replies there, what
    the model would answer is the notes' answer or "noted", both allowed)."""
    report = EvalReport()
    started = time.perf_counter()
    language = getattr(stages, "language", None) or ENGLISH
    model_replies = getattr(stages, "model_replies", True)
    for case in cases:
        policy = DialoguePolicy(
            stages.config, stages.persona, knowledge, language, model_replies=model_replies
        )
        decision = policy.decide(case.text)
        catches = 0
        if decision.action is Action.LLM:
            spoken, catches = _model_reply(stages, case.text, decision)
            handled = "allow"
        else:
            spoken = decision.reply
            handled = {
                Action.HANDOFF: "human",
                Action.GOODBYE: "goodbye",
            }.get(decision.action, decision.reason)
            if decision.reason == "identity":
                handled = "bot_question"
            elif decision.reason in _ANSWERED or decision.instead_of_model:
                handled = "allow"  # answered honestly, not refused
        safe = guardrails.check_bot(spoken) is None
        report.results.append(
            CaseResult(
                case, handled, spoken, passed=safe and handled == case.expect, bot_catches=catches
            )
        )
    report.elapsed_s = time.perf_counter() - started
    return report
