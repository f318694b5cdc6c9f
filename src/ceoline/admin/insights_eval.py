"""Call insights scored on labelled calls: labels, urgency, summaries and themes.

Each call in ``tests/data/insights/calls.jsonl`` holds both sides of a transcript and the items
a product team should get from it (type, area, sentiment, urgency, follow-up, theme). Every
method runs on the same calls in one pass: the model under its JSON grammar as it drafts,
the rules alone, and what ships (the model's draft where the checks let it stand). A predicted
item counts when its quote is the caller's sentence an expected item names; fields are scored
on those pairs. Urgency is scored per call: every labelled urgent call must get a high-urgency
item, and calls without one should not. A summary fails when it repeats a sentence the bot
said or states a figure or name that neither the caller nor the notes said. Themes are scored
by pairwise F1 against the labelled grouping. The tuning and held-out calls are reported apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ceoline.errors import CeolineError
from ceoline.insights.faithful import SummaryCheck, check_summary
from ceoline.insights.summary import Area, Insights, Item, combine, draft_as_is
from ceoline.insights.themes import ThemeBook
from ceoline.store import ANSWERED_EVENT
from ceoline.voice.timings import percentile

METHODS = ("model", "rules", "shipped")
FIELDS = ("type", "area", "sentiment", "urgency", "followup")
SPLITS = ("tune", "heldout")
TARGETS = {
    "type": 0.90,
    "area": 0.85,
    "recall": 0.90,
    "urgent_recall": 1.0,
    "false_urgent": 0.10,
    "theme_f1": 0.80,
}
_TURN_MS = 10_000


@dataclass(frozen=True)
class LabelledCall:
    id: str
    split: str
    call: dict  # shaped as Store.get_call returns a call
    expected: tuple[dict, ...]
    facts: tuple[str, ...]

    @property
    def urgent(self) -> bool:
        return any(item["urgency"] == "high" for item in self.expected)


def load_calls(path: Path) -> list[LabelledCall]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise CeolineError(f"cannot read the insights set {path} ({exc.strerror})") from None
    calls = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            calls.append(
                LabelledCall(
                    str(raw["id"]),
                    str(raw.get("split", "tune")),
                    as_store_call(raw["turns"], str(raw["id"])),
                    tuple(raw.get("items", ())),
                    tuple(raw.get("facts", ())),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CeolineError(f"{path}:{number}: not a labelled call ({exc})") from None
    if not calls:
        raise CeolineError(f"{path}: no labelled calls")
    return calls


def as_store_call(turns: list[dict], call_id: str) -> dict:
    """A labelled transcript as the store hands a call to the insights."""
    out, events, escalations = [], [], []
    last_caller_ms = None
    for seq, turn in enumerate(turns):
        start = seq * _TURN_MS
        out.append(
            {"seq": seq, "role": turn["role"], "text": turn["text"], "start_ms": start,
             "end_ms": start + _TURN_MS // 2}
        )  # fmt: skip
        if turn["role"] == "caller":
            last_caller_ms = start
        elif turn.get("answered_previous") and last_caller_ms is not None:
            events.append({"kind": ANSWERED_EVENT, "t_ms": last_caller_ms, "detail": ""})
        elif "putting you through" in turn["text"].lower():
            escalations.append({"t_ms": start, "reason": "asked", "outcome": "transferred"})
    return {
        "id": call_id,
        "turns": out,
        "events": events,
        "escalations": escalations,
        "callback_requests": [],
    }


def _words(text: str) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split()}


def _overlap(quote: str, expected: str) -> float:
    got, want = _words(quote), _words(expected)
    if not got or not want:
        return 0.0
    shared = len(got & want)
    return min(shared / min(len(got), len(want)), 2 * shared / len(want))


def pair_items(items: list[Item], expected: Iterable[dict]) -> list[tuple[Item, dict]]:
    """Each expected item with the predicted item quoting it best (one to one)."""
    candidates = sorted(
        (
            (_overlap(item.quote, want["text"]), i, j)
            for i, item in enumerate(items)
            for j, want in enumerate(expected)
        ),
        reverse=True,
    )
    expected = list(expected)
    used_items, used_expected, pairs = set(), set(), []
    for score, i, j in candidates:
        if score < 0.6 or i in used_items or j in used_expected:
            continue
        used_items.add(i)
        used_expected.add(j)
        pairs.append((items[i], expected[j]))
    return pairs


@dataclass
class Tally:
    calls: int = 0
    predicted: int = 0
    expected: int = 0
    matched: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    urgent_calls: int = 0
    urgent_found: int = 0
    calm_calls: int = 0
    false_urgent: int = 0
    summaries_bot: int = 0
    summaries_unsupported: int = 0
    summaries_empty: int = 0
    facts: int = 0
    facts_told: int = 0
    misses: list[dict] = field(default_factory=list)

    def add(self, labelled: LabelledCall, insights: Insights, summary: SummaryCheck) -> None:
        self.calls += 1
        self.predicted += len(insights.items)
        self.expected += len(labelled.expected)
        pairs = pair_items(insights.items, labelled.expected)
        self.matched += len(pairs)
        for item, want in pairs:
            got = {
                "type": item.type,
                "area": item.product_area,
                "sentiment": item.sentiment,
                "urgency": item.urgency,
                "followup": item.needs_followup,
            }
            for name in FIELDS:
                if got[name] == want[name]:
                    self.right[name] += 1
                elif len(self.misses) < 40:
                    self.misses.append(
                        {"call": labelled.id, "field": name, "got": got[name],
                         "want": want[name], "quote": want["text"]}
                    )  # fmt: skip
        high = any(item.urgency == "high" for item in insights.items)
        if labelled.urgent:
            self.urgent_calls += 1
            self.urgent_found += high
            if not high and len(self.misses) < 40:
                self.misses.append({"call": labelled.id, "field": "urgent call", "got": False})
        else:
            self.calm_calls += 1
            self.false_urgent += high
        self.summaries_bot += bool(summary.bot_sentences)
        self.summaries_unsupported += bool(summary.unsupported)
        self.summaries_empty += not insights.summary.strip()
        for fact in labelled.facts:
            self.facts += 1
            self.facts_told += _overlap(insights.summary, fact) >= 0.6

    def as_json(self) -> dict:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 3) if d else None

        return {
            "calls": self.calls,
            "items_predicted": self.predicted,
            "items_expected": self.expected,
            "precision": rate(self.matched, self.predicted),
            "recall": rate(self.matched, self.expected),
            **{name: rate(self.right[name], self.matched) for name in FIELDS},
            "urgent_recall": rate(self.urgent_found, self.urgent_calls),
            "false_urgent": rate(self.false_urgent, self.calm_calls),
            "summaries_with_bot_sentence": self.summaries_bot,
            "summaries_with_unsupported": self.summaries_unsupported,
            "summaries_empty": self.summaries_empty,
            "summary_fact_coverage": rate(self.facts_told, self.facts),
        }


@dataclass
class InsightsReport:
    tallies: dict[str, dict[str, Tally]]
    theme_f1: dict[str, float | None]
    model_ms: list[float]
    examples: list[dict]

    def meets_targets(self, method: str = "shipped") -> bool:
        if method not in self.tallies:
            return False
        r = _merged(self.tallies[method].values()).as_json()
        return (
            (r["type"] or 0) >= TARGETS["type"]
            and (r["area"] or 0) >= TARGETS["area"]
            and (r["recall"] or 0) >= TARGETS["recall"]
            and (r["urgent_recall"] or 0) >= TARGETS["urgent_recall"]
            and (r["false_urgent"] or 0) <= TARGETS["false_urgent"]
            and r["summaries_with_bot_sentence"] == 0
            and r["summaries_with_unsupported"] == 0
            and (self.theme_f1.get(method) or 0) >= TARGETS["theme_f1"]
        )

    def as_json(self) -> dict:
        methods = {}
        for method, by_split in self.tallies.items():
            both = {split: tally.as_json() for split, tally in by_split.items()}
            methods[method] = {"all": _merged(by_split.values()).as_json(), "by_split": both}
        return {
            "methods": methods,
            "themes_pairwise_f1": self.theme_f1,
            "model_ms_p50": percentile(self.model_ms, 50) if self.model_ms else None,
            "model_ms_p95": percentile(self.model_ms, 95) if self.model_ms else None,
            "targets": TARGETS,
            "misses": {m: _merged(s.values()).misses[:20] for m, s in self.tallies.items()},
            "examples": self.examples,
        }


def _merged(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for tally in tallies:
        for name, value in vars(tally).items():
            if name == "right":
                for f in FIELDS:
                    out.right[f] += value[f]
            elif name == "misses":
                out.misses += value
            else:
                setattr(out, name, getattr(out, name) + value)
    return out


def pairwise_f1(groups: dict[str, str], truth: dict[str, str]) -> float | None:
    """F1 over pairs of items: put together by the grouping vs by the labels."""
    keys = sorted(set(groups) & set(truth))
    tp = fp = fn = 0
    for n, a in enumerate(keys):
        for b in keys[n + 1 :]:
            same_got, same_want = groups[a] == groups[b], truth[a] == truth[b]
            tp += same_got and same_want
            fp += same_got and not same_want
            fn += same_want and not same_got
    if tp == 0:
        return 0.0 if (fp or fn) else None
    return round(2 * tp / (2 * tp + fp + fn), 3)


def evaluate(
    calls: list[LabelledCall],
    areas: dict[str, Area],
    notes: str,
    draft: Callable[[dict], str | None] | None,
    methods: Iterable[str] = METHODS,
) -> InsightsReport:
    """``draft``: the model's raw JSON for a call (None: the model is not run)."""
    methods = [m for m in methods if m in METHODS and (draft is not None or m != "model")]
    tallies = {m: {s: Tally() for s in SPLITS} for m in methods}
    themes = {m: ThemeBook() for m in methods}
    grouped: dict[str, dict[str, str]] = {m: {} for m in methods}
    truth: dict[str, dict[str, str]] = {m: {} for m in methods}
    model_ms, examples = [], []
    for labelled in calls:
        raw = None
        if draft is not None and any(m in methods for m in ("model", "shipped")):
            started = time.perf_counter()
            raw = draft(labelled.call)
            model_ms.append((time.perf_counter() - started) * 1000)
        for method in methods:
            if method == "model":
                insights = draft_as_is(raw, labelled.call, areas)
            else:
                insights = combine(
                    raw if method == "shipped" else None, labelled.call, areas, notes
                )
            check = check_summary(insights.summary, labelled.call, notes)
            split = labelled.split if labelled.split in SPLITS else "tune"
            tallies[method][split].add(labelled, insights, check)
            for n, item in enumerate(insights.items):
                key = f"{labelled.id}/{n}"
                grouped[method][key] = themes[method].place(key, item)
            for item, want in pair_items(insights.items, labelled.expected):
                key = f"{labelled.id}/{insights.items.index(item)}"
                truth[method][key] = want["theme"]
            # The first calls, and every one whose summary the model wrote, to read.
            if method == "shipped" and (len(examples) < 6 or insights.summary_method == "llm"):
                examples.append({"call": labelled.id, **insights.as_json()})
    theme_f1 = {m: pairwise_f1(grouped[m], truth[m]) for m in methods}
    return InsightsReport(tallies, theme_f1, model_ms, examples)
