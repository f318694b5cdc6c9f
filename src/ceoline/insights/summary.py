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
from pathlib import Path

from ceoline.insights.faithful import check_summary, said_by, sentences
from ceoline.insights.labels import (
    MAX_ITEMS,
    SENTIMENTS,
    TYPES,
    URGENCIES,
    Area,
    Insights,
    Item,
    load_taxonomy,
)
from ceoline.insights.rules import (
    answered_starts,
    is_feedback,
    rule_insights,
    rule_item,
    rule_summary,
)

__all__ = [
    "SENTIMENTS",
    "TYPES",
    "URGENCIES",
    "Area",
    "Insights",
    "Item",
    "analyse",
    "combine",
    "load_taxonomy",
    "rule_item",
]

log = logging.getLogger(__name__)

QUOTE_CHARS = 200
SUMMARY_CHARS = 300


def schema(areas: dict[str, Area]) -> dict:
    """The JSON schema the model's output is constrained to."""
    item = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(TYPES)},
            "product_area": {"type": "string", "enum": list(areas)},
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
            "urgency": {"type": "string", "enum": list(URGENCIES)},
            "quote": {"type": "string", "maxLength": QUOTE_CHARS},
            "needs_followup": {"type": "boolean"},
        },
        "required": ["type", "product_area", "sentiment", "urgency", "quote", "needs_followup"],
    }
    # Items before the summary, and both bounded: a small model that starts repeating itself
    # runs into the limit instead of spending the whole token budget on one string.
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item, "maxItems": MAX_ITEMS},
            "summary": {"type": "string", "maxLength": SUMMARY_CHARS},
        },
        "required": ["items", "summary"],
    }


def transcript_text(call: dict) -> str:
    """The caller's side only: the bot's lines are not feedback, and a small model given them
    copies them into the summary."""
    return "\n".join(
        f"Caller: {turn['text']}" for turn in call.get("turns", []) if turn["role"] == "caller"
    )


def prompt_messages(call: dict, areas: dict[str, Area]) -> list[dict]:
    area_list = ", ".join(areas)
    return [
        {
            "role": "system",
            "content": (
                "You turn what a customer said on a phone call into notes for the product "
                "team. List each piece of feedback as an item: type, product_area (one of: "
                f"{area_list}), sentiment, urgency, a quote copied exactly from a Caller line, "
                "and whether someone must follow up. Then write a summary of one or two "
                "sentences about what the caller said. Answer in JSON."
            ),
        },
        {"role": "user", "content": transcript_text(call)},
    ]


# -- checks ------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(text.split()).strip(" \"'").lower()


def _verbatim(quote: str, call: dict) -> bool:
    needle = _plain(quote)
    if len(needle) < 8:
        return False
    return any(needle in " ".join(text.split()).lower() for text in said_by(call, "caller"))


def _answered(quote: str, call: dict) -> bool:
    starts = answered_starts(call)
    needle = _plain(quote)
    return any(
        t["role"] == "caller"
        and t.get("start_ms") in starts
        and needle in " ".join(t["text"].split()).lower()
        for t in call.get("turns", [])
    )


def _same_point(a: str, b: str) -> bool:
    a, b = _plain(a), _plain(b)
    return a in b or b in a


def _parsed(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        log.info("insights: model output is not JSON; using rules")
        return None
    return data if isinstance(data, dict) else None


def draft_as_is(raw: str | None, call: dict, areas: dict[str, Area]) -> Insights:
    """The model's draft with nothing checked but the schema: what the model alone gives."""
    data = _parsed(raw) or {}
    items = []
    for got in data.get("items") or []:
        if not isinstance(got, dict) or not isinstance(got.get("quote"), str):
            continue
        items.append(
            Item(
                str(got.get("type")),
                str(got.get("product_area")),
                str(got.get("sentiment")),
                str(got.get("urgency")),
                got["quote"].strip(),
                bool(got.get("needs_followup")),
                "llm",
            )
        )
    summary = data.get("summary") if isinstance(data.get("summary"), str) else ""
    return Insights(summary.strip(), "llm", items)


def combine(raw: str | None, call: dict, areas: dict[str, Area], notes: str = "") -> Insights:
    """The rules' items and summary, with what of the model's draft passes the checks.

    The rules find the caller's points and label them; the model adds a point the rules
    missed (quoted verbatim, and feedback at all) and fills a label the rules had no words
    for. Urgency and follow-up are the rules' alone. The model's summary stands only when it
    repeats nothing the bot said and states no figure or name the call and notes lack.
    """
    ruled = rule_insights(call, areas)
    data = _parsed(raw)
    if data is None:
        return ruled
    items = list(ruled.items)
    for got in data.get("items") or []:
        drafted = _checked_item(got, call, areas)
        if drafted is None:
            continue
        for n, item in enumerate(items):
            if _same_point(item.quote, drafted.quote):
                items[n] = _filled(item, drafted)
                break
        else:
            if len(items) < MAX_ITEMS and is_feedback(drafted.quote, areas):
                items.append(drafted)
    summary = data.get("summary")
    if isinstance(summary, str) and _summary_stands(summary, call, items, notes):
        return Insights(summary.strip(), "llm", items)
    return Insights(rule_summary(call, items, areas), "rules", items)


def _filled(ruled: Item, drafted: Item) -> Item:
    kind = drafted.type if ruled.type == "other" else ruled.type
    area = drafted.product_area if ruled.product_area == "other" else ruled.product_area
    if (kind, area) == (ruled.type, ruled.product_area):
        return ruled
    sentiment = {"complaint": "negative", "praise": "positive"}.get(kind, "neutral")
    return Item(
        kind,
        area,
        sentiment,
        ruled.urgency,
        ruled.quote,
        ruled.needs_followup,
        "llm+rules",
    )


def _summary_stands(summary: str, call: dict, items: list[Item], notes: str) -> bool:
    """A drafted summary must be faithful and name every point: each item shares a content
    word with it, so no complaint is summarised away."""
    if not items or not 1 <= len(sentences(summary)) <= 4 or len(summary) >= 800:
        return False
    if not check_summary(summary, call, notes).ok:
        return False
    told = set(_plain(summary).replace(".", " ").replace(",", " ").split())
    return all(
        {w.strip(".,!?") for w in _plain(item.quote).split() if len(w.strip(".,!?")) > 4} & told
        for item in items
    )


def _checked_item(raw: object, call: dict, areas: dict[str, Area]) -> Item | None:
    if not isinstance(raw, dict):
        return None
    quote = raw.get("quote")
    if not isinstance(quote, str) or not _verbatim(quote, call):
        return None  # no verbatim quote: the item cannot be trusted at all
    rules = rule_item(quote.strip(), areas, answered=_answered(quote, call))
    kind = raw.get("type") if raw.get("type") in TYPES else rules.type
    area = raw.get("product_area") if raw.get("product_area") in areas else rules.product_area
    sentiment = raw.get("sentiment") if raw.get("sentiment") in SENTIMENTS else rules.sentiment
    return Item(
        kind, area, sentiment, rules.urgency, quote.strip(), rules.needs_followup, "llm+rules"
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
    notes: str = "",
) -> Insights:
    raw = None
    if model is not None and said_by(call, "caller"):
        try:
            raw = model.generate(call, areas, max_tokens, yield_to)
        except Preempted:
            raise
        except Exception as exc:  # a model failure costs quality, never the insights
            log.warning("insights: model failed (%s); using rules", exc)
    return combine(raw, call, areas, notes)
