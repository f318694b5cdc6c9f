"""What an insight is made of: the allowed labels, the product areas, items and summaries."""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ceoline.errors import ConfigError

TYPES = ("complaint", "suggestion", "question", "praise", "other")
SENTIMENTS = ("negative", "neutral", "positive")
URGENCIES = ("low", "normal", "high")
MAX_ITEMS = 6


@dataclass(frozen=True)
class Area:
    name: str
    label: str
    words: tuple[str, ...]
    # Words that point here only when nothing more telling does ("app" in "the app has made
    # my bookkeeping easier" is about the books): they count half.
    weak: tuple[str, ...] = ()


def load_taxonomy(path: Path) -> dict[str, Area]:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: taxonomy file not found; see configs/taxonomy.toml") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the taxonomy ({exc}); fix the file") from None
    areas = {}
    for name, area in (table.get("areas") or {}).items():
        if (
            not isinstance(area, dict)
            or not isinstance(area.get("words", []), list)
            or not isinstance(area.get("weak", []), list)
        ):
            raise ConfigError(f'{path}: [areas.{name}] needs label = "..." and words = [...]')
        areas[name] = Area(
            name,
            str(area.get("label", name)),
            tuple(map(str, area.get("words", []))),
            tuple(map(str, area.get("weak", []))),
        )
    if "other" not in areas:
        raise ConfigError(f"{path}: the taxonomy needs an [areas.other] catch-all")
    return areas


def area_for(text: str, areas: dict[str, Area]) -> str:
    """The area whose words TEXT uses most (weak words count half); "other" when none."""
    low = text.lower().replace("’", "'")
    best, score = "other", 0.0
    for area in areas.values():
        hits = sum(1.0 for w in area.words if _has(low, w))
        hits += sum(0.5 for w in area.weak if _has(low, w))
        if hits > score:
            best, score = area.name, hits
    return best


def _has(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word.lower())}\b", text) is not None


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
