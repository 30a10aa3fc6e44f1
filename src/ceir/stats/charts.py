"""Geometry of the statistics charts (line and bar), drawn as inline SVG by the template.

Plain data in, coordinates out: no JavaScript, nothing fetched by the browser. A withheld value
(None) leaves a gap in a line and no bar, and shows as "<N" in the data table under the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH = 400
HEIGHT = 240
LEFT = 48  # room for the y tick labels and the y axis title
RIGHT = 10
TOP = 10
BOTTOM = 46  # room for the x tick labels and the x axis title
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM


@dataclass
class Series:
    key: str
    label: str
    values: list[float | None]


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the category and the value, as a tooltip


@dataclass
class Line:
    index: int  # which series: picks colour and dash pattern
    label: str
    path: str  # SVG path data; "M" starts each run of published values
    dots: list[tuple[float, float]]  # values with no published neighbour, invisible as a path


@dataclass
class Chart:
    id: str
    kind: str  # line | bar
    title: str
    desc: str
    x_label: str
    y_label: str
    categories: list[str]  # the x axis: days, weeks or runs, as shown in the table
    series: list[Series]
    cells: list[list[str]]  # the data table: one row per category, one cell per series
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    empty: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_width: int = PLOT_WIDTH
    plot_height: int = PLOT_HEIGHT


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value` (and > 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _x(index: int, count: int) -> float:
    """Centre of the index-th of `count` equal slots across the plot."""
    return LEFT + PLOT_WIDTH * (index + 0.5) / max(count, 1)


def _y(value: float, top: float) -> float:
    return TOP + PLOT_HEIGHT * (1 - value / top)


def _x_ticks(labels: Sequence[str]) -> list[Tick]:
    """First, middle and last category: enough to read dates on a phone."""
    count = len(labels)
    picks = sorted({0, (count - 1) // 2, count - 1}) if count else []
    return [Tick(_x(i, count), labels[i]) for i in picks]


def build(
    *,
    id: str,
    kind: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    categories: list[str],
    series: list[Series],
    format_value: Callable[[float], str],
    withheld: str,
    tick_labels: list[str] | None = None,
) -> Chart:
    """Lay out a chart; `format_value` writes numbers (ticks, cells), `withheld` a hidden one."""
    chart = Chart(
        id=id,
        kind=kind,
        title=title,
        desc=desc,
        x_label=x_label,
        y_label=y_label,
        categories=categories,
        series=series,
        cells=[
            [withheld if s.values[i] is None else format_value(s.values[i] or 0) for s in series]
            for i in range(len(categories))
        ],
    )
    published = [v for s in series for v in s.values if v is not None]
    chart.empty = not published
    top = nice_ceiling(max(published, default=0))
    chart.y_ticks = [Tick(_y(top * q / 4, top), format_value(top * q / 4)) for q in range(5)]
    chart.x_ticks = _x_ticks(tick_labels or categories)
    count = len(categories)
    if kind == "bar":
        values = series[0].values if series else []
        width = PLOT_WIDTH / max(count, 1) * 0.8
        for i, value in enumerate(values):
            if value is None:
                continue
            y = _y(value, top)
            chart.bars.append(
                Bar(
                    _x(i, count) - width / 2,
                    y,
                    width,
                    TOP + PLOT_HEIGHT - y,
                    f"{categories[i]}: {format_value(value)}",
                )
            )
        return chart
    for index, one in enumerate(series):
        path: list[str] = []
        dots: list[tuple[float, float]] = []
        for i, value in enumerate(one.values):
            if value is None:
                continue
            point = (round(_x(i, count), 1), round(_y(value, top), 1))
            joined = i > 0 and one.values[i - 1] is not None
            path.append(f"{'L' if joined else 'M'}{point[0]} {point[1]}")
            followed = i + 1 < len(one.values) and one.values[i + 1] is not None
            if not joined and not followed:
                dots.append(point)
        chart.lines.append(Line(index, one.label, " ".join(path), dots))
    return chart
