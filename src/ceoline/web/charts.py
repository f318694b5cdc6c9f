"""Stacked bar charts laid out on the server, drawn as inline SVG by the templates."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 720
HEIGHT = 220
MARGIN_LEFT = 32
MARGIN_BOTTOM = 28
MARGIN_TOP = 10
PALETTE_SIZE = 10  # series colours are CSS classes series-0 … series-9


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass
class BarChart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)
    legend: list[tuple[int, str]] = field(default_factory=list)
    baseline: float = HEIGHT - MARGIN_BOTTOM


def stacked_bars(
    days: list[str],
    counts: dict[str, dict[str, int]],
    series: list[str],
    labels: dict[str, str] | None = None,
) -> BarChart:
    """One bar per day, stacked by series, scaled to the busiest day."""
    labels = labels or {}
    chart = BarChart(
        legend=[(i % PALETTE_SIZE, labels.get(name, name)) for i, name in enumerate(series)]
    )
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    top = max((sum(counts[day].values()) for day in days), default=0) or 1
    slot = (WIDTH - MARGIN_LEFT) / max(len(days), 1)
    bar_width = slot * 0.7
    for i, day in enumerate(days):
        x = MARGIN_LEFT + i * slot + (slot - bar_width) / 2
        y = chart.baseline
        for index, name in enumerate(series):
            count = counts[day].get(name, 0)
            if not count:
                continue
            height = count / top * plot_height
            y -= height
            chart.bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(bar_width, 1),
                    round(height, 1),
                    index % PALETTE_SIZE,
                    f"{day} {labels.get(name, name)}: {count}",
                )
            )
        chart.labels.append((round(x + bar_width / 2, 1), day[5:]))
    for value in sorted({0, top // 2, top}):
        chart.ticks.append((round(chart.baseline - value / top * plot_height, 1), value))
    return chart
