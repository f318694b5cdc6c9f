"""Does the persona adapter help? Base vs base + adapter on prompts kept out of training.

- **Held-out NLL**: mean negative log-likelihood per token of the reference replies, scored by
  llama.cpp itself (the engine that serves calls) with the same chat template a call uses.
- **Style**: the models' own answers, checked for the persona's signature phrases, first
  person, a length that suits the phone, and plain speech (no lists or markup).
- **Guardrails**: the labelled off-limits set through the real reply path; the adapter must
  not lower its pass rate.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.locator import ModelFiles
from ceoline.persona.corpus import Example, chat_messages, notes_for
from ceoline.persona.profile import Persona
from ceoline.trust.guardrail_eval import Case, evaluate
from ceoline.voice.llm import LanguageModel, spoken_reply

# A spoken answer on the phone: long enough to say something, short enough to listen to.
SPOKEN_WORDS = (8, 60)
# The merged model is the runtime adapter's persona when its held-out NLL per token is within
# this of the adapter's (the adapter moves it ~0.5 from the base) and it passes the guardrail
# set as often, give or take one line in a hundred.
MERGE_NLL_NOISE = 0.02
MERGE_GUARDRAIL_NOISE = 0.01
_FIRST_PERSON = re.compile(r"\b(i|i'm|i'd|i'll|i've|me|my|we|we're|we've|our|us)\b", re.I)
_MARKUP = re.compile(r"(^\s*([-*#]|\d+[.)])\s)|[*_#`]|[\U0001F300-\U0001FAFF]", re.M)


@dataclass
class VariantScore:
    """One model variant (base, or base + adapter) over the held-out set."""

    name: str
    nll: float = math.nan  # mean per reference token
    tokens: int = 0
    style: dict[str, float] = field(default_factory=dict)
    guardrail_pass_rate: float | None = None
    answers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "nll": round(self.nll, 4),
            "perplexity": round(math.exp(self.nll), 3),
            "reference_tokens": self.tokens,
            "style": {k: round(v, 3) for k, v in self.style.items()},
            "guardrail_pass_rate": self.guardrail_pass_rate,
            "seconds": round(self.seconds, 1),
        }


@dataclass
class PersonaEvalReport:
    examples: int
    base: VariantScore
    adapter: VariantScore
    prompts: list[str] = field(default_factory=list)
    merged: VariantScore | None = None  # the persona folded into the weights, when asked

    @property
    def merged_same_persona(self) -> bool | None:
        """Is the merged model the adapter's persona: held-out NLL within ``MERGE_NLL_NOISE``
        of the runtime adapter's, and the guardrails passed as often?"""
        if self.merged is None:
            return None
        a, m = self.adapter, self.merged
        same_rate = (
            a.guardrail_pass_rate is None
            or m.guardrail_pass_rate is None
            or m.guardrail_pass_rate >= a.guardrail_pass_rate - MERGE_GUARDRAIL_NOISE
        )
        return abs(m.nll - a.nll) <= MERGE_NLL_NOISE and same_rate

    @property
    def nll_improved(self) -> bool:
        return self.adapter.nll < self.base.nll

    @property
    def guardrails_held(self) -> bool:
        b, a = self.base.guardrail_pass_rate, self.adapter.guardrail_pass_rate
        return b is None or a is None or a >= b

    def as_json(self, samples: int = 3) -> dict:
        return {
            "examples": self.examples,
            "base": self.base.as_json(),
            "adapter": self.adapter.as_json(),
            "nll_change": round(self.adapter.nll - self.base.nll, 4),
            "nll_improved": self.nll_improved,
            "guardrails_held": self.guardrails_held,
            **(
                {
                    "merged": self.merged.as_json(),
                    "merged_nll_gap": round(self.merged.nll - self.adapter.nll, 4),
                    "merged_same_persona": self.merged_same_persona,
                }
                if self.merged
                else {}
            ),
            "samples": [
                {"prompt": p, "base": b, "adapter": a}
                for p, b, a in list(
                    zip(self.prompts, self.base.answers, self.adapter.answers, strict=False)
                )[:samples]
            ],
        }


class _Scorer:
    """Log-likelihoods of replies under one llama.cpp model, reusing the shared prompt prefix."""

    def __init__(self, lm: LanguageModel):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama = lm.llama
        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise CeolineError("the base GGUF has no chat template; persona eval needs one")
        special = {
            "eos_token": self._text(self.llama.token_eos()),
            "bos_token": self._text(self.llama.token_bos()),
        }
        self._head = Jinja2ChatFormatter(template, add_generation_prompt=True, **special)
        self._whole = Jinja2ChatFormatter(template, add_generation_prompt=False, **special)

    def _text(self, token: int) -> str:
        return self.llama.detokenize([token], special=True).decode("utf-8", "replace")

    def _tokens(self, text: str, bos: bool) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=True)

    def reply_nll(
        self, persona: Persona, example: Example, notes: tuple[str, ...] = ()
    ) -> tuple[float, int]:
        """Summed NLL of the reply's tokens (its end-of-turn included) and their count."""
        as_dicts = lambda ms: [{"role": m.role, "content": m.content} for m in ms]  # noqa: E731
        head = self._head(
            messages=as_dicts(chat_messages(persona, example.prompt, notes=notes))
        ).prompt
        whole = self._whole(
            messages=as_dicts(chat_messages(persona, example.prompt, example.reply, notes))
        ).prompt
        if not whole.startswith(head):
            raise CeolineError("the chat template does not render the prompt as a prefix")
        prompt = self._tokens(head, bos=True)
        tokens = prompt + self._tokens(whole[len(head) :].rstrip("\n"), bos=False)
        if len(tokens) > self.llama.n_ctx():
            raise CeolineError(
                f"held-out line {example.line} is {len(tokens)} tokens, over [llm] "
                "context_tokens; shorten it"
            )
        llama = self.llama
        # Keep what is already evaluated (the system prompt) and evaluate only the rest.
        same = 0
        for a, b in zip(llama.input_ids[: llama.n_tokens], tokens, strict=False):
            if a != b:
                break
            same += 1
        llama.n_tokens = min(same, len(prompt) - 1)
        llama.eval(tokens[llama.n_tokens :])
        logits = np.asarray(llama.scores[len(prompt) - 1 : len(tokens) - 1], dtype=np.float64)
        targets = np.asarray(tokens[len(prompt) :])
        peak = logits.max(axis=1, keepdims=True)
        log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
        picked = logits[np.arange(len(targets)), targets]
        return float((log_norm - picked).sum()), len(targets)


def style_scores(answers: list[str], persona: Persona) -> dict[str, float]:
    """Share of answers with each trait, and their mean as ``score``."""
    phrases = [_fold(p) for p in persona.signature_phrases]
    traits = {"signature_phrase": [], "first_person": [], "spoken_length": [], "plain": []}
    for answer in answers:
        folded = _fold(answer)
        words = len(answer.split())
        traits["signature_phrase"].append(any(p in folded for p in phrases))
        traits["first_person"].append(bool(_FIRST_PERSON.search(answer)))
        traits["spoken_length"].append(SPOKEN_WORDS[0] <= words <= SPOKEN_WORDS[1])
        traits["plain"].append(not _MARKUP.search(answer) and "\n" not in answer.strip())
    rates = {k: (sum(v) / len(v) if v else 0.0) for k, v in traits.items()}
    if not phrases:
        del rates["signature_phrase"]
    rates["score"] = sum(rates.values()) / len(rates)
    return rates


def _fold(text: str) -> str:
    return text.lower().replace("\u2019", "'")


def _answer(lm: LanguageModel, persona: Persona, prompt: str, notes: tuple[str, ...]) -> str:
    return "".join(lm.stream(chat_messages(persona, prompt, notes=notes))).strip()


def score_variant(
    name: str,
    lm: LanguageModel,
    config: Config,
    persona: Persona,
    examples: list[Example],
    guardrail_cases: list[Case] | None,
    knowledge=None,
) -> VariantScore:
    """``knowledge`` supplies the notes a live call would put beside each prompt."""
    started = time.perf_counter()
    result = VariantScore(name)
    scorer = _Scorer(lm)
    notes = [notes_for(config, persona, knowledge, ex.prompt) for ex in examples]
    total, count = 0.0, 0
    for example, example_notes in zip(examples, notes, strict=True):
        nll, n = scorer.reply_nll(persona, example, example_notes)
        total, count = total + nll, count + n
    result.nll, result.tokens = total / max(1, count), count
    result.answers = [
        _answer(lm, persona, ex.prompt, n) for ex, n in zip(examples, notes, strict=True)
    ]
    result.style = style_scores(result.answers, persona)
    if guardrail_cases:
        stages = _Stages(config, persona, lm)
        result.guardrail_pass_rate = round(
            evaluate(stages, guardrail_cases, knowledge).pass_rate, 4
        )
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Stages:
    """What the guardrail evaluation needs: the config, the persona and one language model."""

    config: Config
    persona: Persona
    llm: LanguageModel

    def spoken_pieces(self, user_content: str, reply_start: str = "") -> list[str]:
        return spoken_reply(
            self.llm, self.persona.system_prompt(), self.config.chunker, user_content, reply_start
        )


def compare(
    config: Config,
    persona: Persona,
    base: ModelFiles,
    adapter: ModelFiles,
    examples: list[Example],
    guardrail_cases: list[Case] | None = None,
    knowledge=None,
    merged: ModelFiles | None = None,
) -> PersonaEvalReport:
    """Score the base alone, then with the adapter, then (if given) the merged model, on the
    same examples and cases."""
    variants = [("base", base, None), ("adapter", base, adapter)]
    if merged is not None:
        variants.append(("merged", merged, None))
    scores = []
    for name, model, extra in variants:
        lm = LanguageModel(model, config.llm, config.runtime, adapter=extra, logits_all=True)
        scores.append(
            score_variant(name, lm, config, persona, examples, guardrail_cases, knowledge)
        )
        del lm
    return PersonaEvalReport(
        len(examples),
        scores[0],
        scores[1],
        prompts=[e.prompt for e in examples],
        merged=scores[2] if merged is not None else None,
    )
