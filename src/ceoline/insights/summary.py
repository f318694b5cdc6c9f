"""From a finished call to a summary and classified feedback items.

The local LLM writes them under a JSON-schema grammar (llama.cpp), so its output always
parses; it is then validated against the transcript and the taxonomy. A quote must be the
caller's own words, verbatim; every label must be one of the allowed values. Whatever the
model gets wrong (or when there is no model) is filled by rules over the transcript, and
each summary and item says which method produced it. A call always gets its insights.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ceoline.errors import ConfigError
from ceoline.store import ANSWERED_EVENT

log = logging.getLogger(__name__)

TYPES = ("complaint", "suggestion", "question", "praise", "other")
SENTIMENTS = ("negative", "neutral", "positive")
URGENCIES = ("low", "normal", "high")
MAX_ITEMS = 6


@dataclass(frozen=True)
class Area:
    name: str
    label: str
    words: tuple[str, ...]


def load_taxonomy(path: Path) -> dict[str, Area]:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: taxonomy file not found; see configs/taxonomy.toml") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the taxonomy ({exc}); fix the file") from None
    areas = {}
    for name, area in (table.get("areas") or {}).items():
        if not isinstance(area, dict) or not isinstance(area.get("words", []), list):
            raise ConfigError(f'{path}: [areas.{name}] needs label = "..." and words = [...]')
        areas[name] = Area(name, str(area.get("label", name)), tuple(map(str, area["words"])))
    if "other" not in areas:
        raise ConfigError(f"{path}: the taxonomy needs an [areas.other] catch-all")
    return areas


@dataclass
class Item:
    type: str
    product_area: str
    sentiment: str
    urgency: str
    quote: str
    needs_followup: bool
    method: str  # "llm", "rules", or "llm+rules" when rules fixed some fields


@dataclass
class Insights:
    summary: str
    summary_method: str
    items: list[Item] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "summary": self.summary,
            "summary_method": self.summary_method,
            "items": [asdict(i) for i in self.items],
        }


def schema(areas: dict[str, Area]) -> dict:
    """The JSON schema the model's output is constrained to."""
    item = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(TYPES)},
            "product_area": {"type": "string", "enum": list(areas)},
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
            "urgency": {"type": "string", "enum": list(URGENCIES)},
            "quote": {"type": "string"},
            "needs_followup": {"type": "boolean"},
        },
        "required": ["type", "product_area", "sentiment", "urgency", "quote", "needs_followup"],
    }
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "items": {"type": "array", "items": item, "maxItems": MAX_ITEMS},
        },
        "required": ["summary", "items"],
    }


def transcript_text(call: dict) -> str:
    lines = []
    for turn in call.get("turns", []):
        who = "Caller" if turn["role"] == "caller" else "Bot"
        lines.append(f"{who}: {turn['text']}")
    return "\n".join(lines)


def prompt_messages(call: dict, areas: dict[str, Area]) -> list[dict]:
    area_list = ", ".join(areas)
    return [
        {
            "role": "system",
            "content": (
                "You turn a phone call with a company's customer into notes for the product "
                "team. Write a summary of 2 to 4 sentences about what the caller said. List "
                "each piece of feedback as an item: type, product_area (one of: "
                f"{area_list}), sentiment, urgency, a quote copied exactly from a Caller line, "
                "and whether someone must follow up. Answer in JSON."
            ),
        },
        {"role": "user", "content": transcript_text(call)},
    ]


# -- rules -------------------------------------------------------------------------------

_COMPLAINT = re.compile(
    r"\b(broken|bug|crash\w*|slow|doesn't work|does not work|not working|problem|issue|hate|"
    r"annoy\w*|confus\w*|frustrat\w*|wrong|error|fail\w*|terrible|awful|useless|charged twice"
    r"|can't|cannot|won't|stuck|late|missing)\b"
)
_SUGGESTION = re.compile(
    r"\b(should|could you|would be (nice|great|good)|please add|i wish|it would help|"
    r"why not|how about|suggest\w*|idea|feature request|add a|support for)\b"
)
_PRAISE = re.compile(r"\b(love|great|brilliant|amazing|excellent|thank|thanks|awesome|happy)\b")
_NEGATIVE = re.compile(_COMPLAINT.pattern + r"|\b(angry|upset|disappointed|worst|ridiculous)\b")
_URGENT = re.compile(
    r"\b(urgent\w*|asap|immediately|right now|lost money|can't get paid|cannot get paid|"
    r"locked out|fraud|security|data breach|charged twice|payroll)\b"
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _area_for(text: str, areas: dict[str, Area]) -> str:
    low = text.lower()
    best, hits = "other", 0
    for area in areas.values():
        count = sum(1 for w in area.words if re.search(rf"\b{re.escape(w.lower())}\b", low))
        if count > hits:
            best, hits = area.name, count
    return best


def answered_starts(call: dict) -> set[int]:
    """Where the caller's turns that the notes answered start: no one need follow those up."""
    return {e["t_ms"] for e in call.get("events", []) if e.get("kind") == ANSWERED_EVENT}


def _answered(quote: str, call: dict) -> bool:
    starts = answered_starts(call)
    needle = " ".join(quote.split()).lower()
    return any(
        t["role"] == "caller"
        and t.get("start_ms") in starts
        and needle in " ".join(t["text"].split()).lower()
        for t in call.get("turns", [])
    )


def rule_item(
    quote: str, areas: dict[str, Area], followup: bool = False, answered: bool = False
) -> Item:
    """``answered``: the quote is a question the notes answered on the call."""
    low = quote.lower()
    if _COMPLAINT.search(low):
        kind = "complaint"
    elif _SUGGESTION.search(low):
        kind = "suggestion"
    elif quote.rstrip().endswith("?"):
        kind = "question"
    elif _PRAISE.search(low):
        kind = "praise"
    else:
        kind = "other"
    sentiment = (
        "negative" if _NEGATIVE.search(low) else "positive" if _PRAISE.search(low) else "neutral"
    )
    urgency = "high" if _URGENT.search(low) else "normal" if kind == "complaint" else "low"
    return Item(
        kind,
        _area_for(quote, areas),
        sentiment,
        urgency,
        quote,
        followup or urgency == "high" or (kind == "question" and not answered),
        "rules",
    )


def _substantive(text: str) -> bool:
    return len(re.findall(r"[a-zA-Z]+", text)) >= 3


def rule_items(call: dict, areas: dict[str, Area]) -> list[Item]:
    escalated = bool(call.get("escalations")) or bool(call.get("callback_requests"))
    answered = answered_starts(call)
    items = []
    for turn in call.get("turns", []):
        if turn["role"] != "caller" or not _substantive(turn["text"]):
            continue
        items.append(
            rule_item(
                turn["text"].strip(),
                areas,
                followup=escalated,
                answered=turn.get("start_ms") in answered,
            )
        )
    return items[:MAX_ITEMS]


def rule_summary(call: dict, items: list[Item], areas: dict[str, Area]) -> str:
    if not items:
        return "The caller did not leave any feedback the bot could make out."
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item.type] = kinds.get(item.type, 0) + 1
    described = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in kinds.items())
    topics = sorted({areas[i.product_area].label for i in items if i.product_area in areas})
    first = f"The caller raised {described} about {', '.join(topics).lower()}."
    second = f'In their words: "{items[0].quote}"'
    if not second.endswith((".", "!", "?", '"')):
        second += "."
    parts = [first, second]
    if call.get("escalations"):
        outcomes = ", ".join(e["outcome"] for e in call["escalations"])
        parts.append(f"They asked for a person ({outcomes}).")
    return " ".join(parts)


# -- validation ----------------------------------------------------------------------------


def _caller_texts(call: dict) -> list[str]:
    return [t["text"] for t in call.get("turns", []) if t["role"] == "caller"]


def _verbatim(quote: str, call: dict) -> bool:
    needle = " ".join(quote.split()).strip(" \"'").lower()
    if len(needle) < 8:
        return False
    return any(needle in " ".join(text.split()).lower() for text in _caller_texts(call))


def _sentence_count(text: str) -> int:
    return len([s for s in _SENTENCE.split(text.strip()) if s])


def combine(raw: str | None, call: dict, areas: dict[str, Area]) -> Insights:
    """The model's output where it is valid, the rules' where it is not."""
    fallback_items = rule_items(call, areas)
    data = None
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            log.info("insights: model output is not JSON; using rules")
    if not isinstance(data, dict):
        return Insights(rule_summary(call, fallback_items, areas), "rules", fallback_items)
    summary = data.get("summary")
    summary_ok = (
        isinstance(summary, str) and 2 <= _sentence_count(summary) <= 4 and len(summary) < 800
    )
    items: list[Item] = []
    for raw_item in data.get("items") or []:
        item = _checked_item(raw_item, call, areas)
        if item is not None and all(i.quote != item.quote for i in items):
            items.append(item)
    if not items:
        items = fallback_items
    if not summary_ok:
        return Insights(rule_summary(call, items, areas), "rules", items)
    return Insights(summary.strip(), "llm", items)


def _checked_item(raw: object, call: dict, areas: dict[str, Area]) -> Item | None:
    if not isinstance(raw, dict):
        return None
    quote = raw.get("quote")
    if not isinstance(quote, str) or not _verbatim(quote, call):
        return None  # no verbatim quote: the item cannot be trusted at all
    answered = _answered(quote, call)
    rules = rule_item(quote.strip(), areas, answered=answered)
    fixed = False

    def pick(key: str, allowed, default):
        nonlocal fixed
        value = raw.get(key)
        if value in allowed:
            return value
        fixed = True
        return default

    kind = pick("type", TYPES, rules.type)
    area = pick("product_area", tuple(areas), rules.product_area)
    sentiment = pick("sentiment", SENTIMENTS, rules.sentiment)
    urgency = pick("urgency", URGENCIES, rules.urgency)
    followup = raw.get("needs_followup")
    if not isinstance(followup, bool):
        followup, fixed = rules.needs_followup, True
    elif followup and answered and kind == "question" and urgency != "high":
        followup, fixed = False, True  # the notes answered it on the call
    return Item(
        kind, area, sentiment, urgency, quote.strip(), followup, "llm+rules" if fixed else "llm"
    )


class Preempted(Exception):
    """A live call needs the CPU: the job goes back to the queue, untouched."""


class InsightsModel:
    """Its own llama.cpp context: insights never hold the live calls' model or its cache."""

    def __init__(self, model_path: Path, threads: int, gpu_layers: int = 0, seed: int = 7):
        from llama_cpp import Llama

        self._llama = Llama(
            model_path=str(model_path),
            n_ctx=4096,
            n_threads=threads,
            n_gpu_layers=gpu_layers,
            seed=seed,
            verbose=False,
        )
        self._grammars: dict[str, object] = {}

    def generate(
        self,
        call: dict,
        areas: dict[str, Area],
        max_tokens: int = 400,
        yield_to=lambda: False,
    ) -> str:
        """The model's JSON; raises :class:`Preempted` as soon as ``yield_to()`` is true."""
        from llama_cpp import LlamaGrammar

        key = ",".join(areas)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(
                json.dumps(schema(areas)), verbose=False
            )
        chunks = self._llama.create_chat_completion(
            prompt_messages(call, areas),
            grammar=self._grammars[key],
            max_tokens=max_tokens,
            temperature=0.2,
            stream=True,
        )
        parts = []
        try:
            for chunk in chunks:
                parts.append(chunk["choices"][0]["delta"].get("content") or "")
                if yield_to():
                    raise Preempted("a call came in")
        finally:
            chunks.close()
        return "".join(parts)


def analyse(
    call: dict,
    areas: dict[str, Area],
    model: InsightsModel | None,
    max_tokens: int = 400,
    yield_to=lambda: False,
) -> Insights:
    raw = None
    if model is not None and _caller_texts(call):
        try:
            raw = model.generate(call, areas, max_tokens, yield_to)
        except Preempted:
            raise
        except Exception as exc:  # a model failure costs quality, never the insights
            log.warning("insights: model failed (%s); using rules", exc)
    return combine(raw, call, areas)
