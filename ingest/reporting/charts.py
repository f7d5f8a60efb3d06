"""Inline SVG charts for the run report: line with a confidence band, histogram, scatter, heatmap,
bars and step/area, each with axes, ticks, axis labels and (for several series) a legend.

Why hand-written SVG: the report is one file that must render offline with no script, font or
library fetched, and the project installs no plotting stack. Each function returns one complete
`<svg>` element as a string; its data marks sit in one `<g class="marks">` group so a page script
(or a test) can tell a chart that drew something from an empty one. Missing values (None, NaN,
infinities) are gaps, never zeros; a chart with nothing to draw says "no data" instead of failing.
Element ids are never used, so any number of charts can share one page."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from ingest.reporting.scales import (
    LinearScale,
    Number,
    extent,
    finite,
    format_number,
    is_number,
    nice_domain,
    nice_step,
    time_ticks,
)

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D31", "#444444",
           "#B3B300", "#7F3C8D")
"""Okabe-Ito colours (colour-blind safe) first, then a few distinct extras; cycled."""

FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\""
"""Local system fonts only: nothing is fetched."""

WIDE_WIDTH = 1080
"""Width of a chart that spans the page (time series, long category lists)."""
GRID = "#e3e3e3"
AXIS = "#555555"
MISSING = "#ececec"
CHAR_WIDTH = 6.6
"""Approximate width in pixels of one character of 11px text, to size margins and truncate labels."""


def color(index: int) -> str:
    """The palette colour of series number `index`."""
    return PALETTE[index % len(PALETTE)]


def dash(index: int) -> str:
    """A stroke-dasharray attribute for series past the first round of colours (so none look alike)."""
    return ["", ' stroke-dasharray="6 3"', ' stroke-dasharray="2 2"'][(index // len(PALETTE)) % 3]


@dataclass(frozen=True)
class Series:
    """One line: y over x, with an optional band (low, high) drawn behind it."""

    name: str
    x: Sequence[Number]
    y: Sequence[Number]
    low: Sequence[Number] | None = None
    high: Sequence[Number] | None = None
    color: str | None = None
    width: float = 1.8


@dataclass(frozen=True)
class PointGroup:
    """Points of one colour in a scatter (optional per-point hover text)."""

    name: str
    x: Sequence[Number]
    y: Sequence[Number]
    color: str | None = None
    radius: float = 2.4
    opacity: float = 0.55
    titles: Sequence[str] | None = None


@dataclass(frozen=True)
class BarSeries:
    """One value per category; several series are drawn side by side."""

    name: str
    values: Sequence[Number]
    color: str | None = None


@dataclass(frozen=True)
class Guide:
    """A dashed reference line at a data value (vertical on x, horizontal on y) with a short label."""

    value: float
    label: str = ""


@dataclass
class _Canvas:
    """The elements of one chart while it is drawn; lives for one function call."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    back: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    front: list[str] = field(default_factory=list)

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.top

    @property
    def y1(self) -> float:
        return self.height - self.bottom

    def svg(self, label: str) -> str:
        title = escape(label)
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
                f'width="{self.width}" height="{self.height}" role="img" aria-label="{title}" {FONT} '
                f'font-size="11" style="max-width:100%;height:auto"><title>{title}</title>'
                f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#ffffff"/>'
                + "".join(self.back) + '<g class="marks">' + "".join(self.marks) + "</g>"
                + "".join(self.front) + "</svg>")


def _f(value: float) -> str:
    """A coordinate with one decimal (keeps the page small)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{extra}>{escape(content)}</text>'


def _truncate(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: max(chars - 1, 1)] + "\u2026"


def _no_data(canvas: _Canvas, message: str = "no data") -> None:
    canvas.front.append(_text((canvas.x0 + canvas.x1) / 2, (canvas.y0 + canvas.y1) / 2, message,
                              extra=' fill="#777777" font-size="13"'))


def _legend(canvas: _Canvas, entries: Sequence[tuple[str, str, str]]) -> None:
    """Entries (name, colour, kind: line[+dash attribute]/box/dot) stacked in the right margin."""
    x = canvas.x1 + 14
    chars = int((canvas.right - 40) / CHAR_WIDTH)
    for index, (name, swatch, kind) in enumerate(entries):
        y = canvas.y0 + 6 + index * 16
        if kind.startswith("line"):
            canvas.front.append(f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x + 16)}" y2="{_f(y)}" '
                                f'stroke="{swatch}" stroke-width="2.5"{kind[4:]}/>')
        elif kind == "dot":
            canvas.front.append(f'<circle cx="{_f(x + 8)}" cy="{_f(y)}" r="4" fill="{swatch}"/>')
        else:
            canvas.front.append(f'<rect x="{_f(x + 2)}" y="{_f(y - 5)}" width="12" height="10" fill="{swatch}"/>')
        canvas.front.append(_text(x + 22, y + 4, _truncate(name, chars), anchor="start"))


def _legend_width(names: Sequence[str], chart_width: int) -> float:
    """Right margin for a legend: as wide as the longest name needs, at most 40% of the chart."""
    longest = max((len(name) for name in names), default=0)
    return min(0.4 * chart_width, 48 + CHAR_WIDTH * longest)


def _axes(canvas: _Canvas, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]],
          x_label: str, y_label: str, x_grid: bool = False) -> None:
    """Grid, axis lines, ticks, tick labels and axis titles (ticks given in pixels)."""
    for y, label in y_ticks:
        canvas.back.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(y)}" x2="{_f(canvas.x1)}" y2="{_f(y)}" stroke="{GRID}"/>')
        canvas.front.append(f'<line x1="{_f(canvas.x0 - 4)}" y1="{_f(y)}" x2="{_f(canvas.x0)}" y2="{_f(y)}" stroke="{AXIS}"/>')
        canvas.front.append(_text(canvas.x0 - 7, y + 4, label, anchor="end"))
    for x, label in x_ticks:
        if x_grid:
            canvas.back.append(f'<line x1="{_f(x)}" y1="{_f(canvas.y0)}" x2="{_f(x)}" y2="{_f(canvas.y1)}" stroke="{GRID}"/>')
        canvas.front.append(f'<line x1="{_f(x)}" y1="{_f(canvas.y1)}" x2="{_f(x)}" y2="{_f(canvas.y1 + 4)}" stroke="{AXIS}"/>')
        canvas.front.append(_text(x, canvas.y1 + 16, label))
    canvas.front.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(canvas.y1)}" x2="{_f(canvas.x1)}" y2="{_f(canvas.y1)}" stroke="{AXIS}"/>')
    canvas.front.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(canvas.y0)}" x2="{_f(canvas.x0)}" y2="{_f(canvas.y1)}" stroke="{AXIS}"/>')
    if x_label:
        canvas.front.append(_text((canvas.x0 + canvas.x1) / 2, canvas.height - 8, x_label, extra=' font-weight="600"'))
    if y_label:
        cx, cy = 14, (canvas.y0 + canvas.y1) / 2
        canvas.front.append(f'<text x="{_f(cx)}" y="{_f(cy)}" text-anchor="middle" font-weight="600" '
                            f'transform="rotate(-90 {_f(cx)} {_f(cy)})">{escape(y_label)}</text>')


def _linear_ticks(scale: LinearScale, target: int, fmt: Callable[[float], str] | None = None) -> list[tuple[float, str]]:
    lo, hi = sorted((scale.domain_lo, scale.domain_hi))
    step = nice_step(hi - lo, target)
    return [(scale(v), fmt(v) if fmt else format_number(v, step)) for v in scale.ticks(target)]


def _x_axis(lo: float, hi: float, canvas: _Canvas, time_axis: bool, pad: bool = True) -> tuple[LinearScale, list[tuple[float, str]]]:
    """The x scale and its ticks (time axes keep the data's bounds; numeric ones end on ticks)."""
    if time_axis:
        scale = LinearScale(lo, hi, canvas.x0, canvas.x1)
        return scale, [(scale(v), label) for v, label in time_ticks(lo, hi)]
    if pad:
        lo, hi = nice_domain(lo, hi, 6)
    scale = LinearScale(lo, hi, canvas.x0, canvas.x1)
    return scale, _linear_ticks(scale, 6)


def _y_axis(lo: float, hi: float, canvas: _Canvas) -> tuple[LinearScale, list[tuple[float, str]]]:
    lo, hi = nice_domain(lo, hi, 5)
    scale = LinearScale(lo, hi, canvas.y1, canvas.y0)
    return scale, _linear_ticks(scale, 5)


HALO = ' paint-order="stroke" stroke="#ffffff" stroke-width="3" stroke-linejoin="round"'
"""A white outline behind guide labels so they stay readable over bars and points."""


def _guides(canvas: _Canvas, x_scale: LinearScale | None, y_scale: LinearScale | None,
            x_guides: Sequence[Guide], y_guides: Sequence[Guide]) -> None:
    dash = 'stroke="#333333" stroke-dasharray="4 3" stroke-width="1"'
    if x_scale is not None:
        lo, hi = sorted((x_scale.domain_lo, x_scale.domain_hi))
        for index, guide in enumerate(g for g in x_guides if lo <= g.value <= hi):
            x = x_scale(guide.value)
            canvas.front.append(f'<line x1="{_f(x)}" y1="{_f(canvas.y0)}" x2="{_f(x)}" y2="{_f(canvas.y1)}" {dash}/>')
            if guide.label:  # staggered, so guides close together keep readable labels
                canvas.front.append(_text(x + 3, canvas.y0 + 10 + 12 * index, guide.label, anchor="start",
                                          extra=' fill="#333333"' + HALO))
    if y_scale is not None:
        lo, hi = sorted((y_scale.domain_lo, y_scale.domain_hi))
        for guide in (g for g in y_guides if lo <= g.value <= hi):
            y = y_scale(guide.value)
            canvas.front.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(y)}" x2="{_f(canvas.x1)}" y2="{_f(y)}" {dash}/>')
            if guide.label:
                canvas.front.append(_text(canvas.x1 - 3, y - 4, guide.label, anchor="end", extra=' fill="#333333"' + HALO))


def _runs(*columns: Sequence[Number]) -> list[list[int]]:
    """Index runs where every column is a finite number (a missing value breaks the run)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i in range(min(len(c) for c in columns) if columns else 0):
        if all(is_number(c[i]) for c in columns):
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def line_chart(series: Sequence[Series], *, x_label: str, y_label: str, title: str = "", time_axis: bool = False,
               x_guides: Sequence[Guide] = (), y_guides: Sequence[Guide] = (), zero_line: bool = True,
               width: int = 640, height: int = 320) -> str:
    """Lines (with bands where low/high are given); x may be epoch seconds with `time_axis`."""
    names = [s.name for s in series]
    right = _legend_width(names, width) if len(series) > 1 else 18
    if len(series) > 1:
        height = max(height, 70 + 16 * len(series))
    canvas = _Canvas(width, height, left=64, right=right, top=14, bottom=44)
    xs = [v for s in series for v in s.x]
    ys = [v for s in series for v in [*s.y, *(s.low or ()), *(s.high or ())]]
    x_extent, y_extent = extent(xs), extent(ys, include=(0.0,) if zero_line else ())
    if x_extent is None or extent([v for s in series for v in s.y]) is None:
        _axes(canvas, [], [], x_label, y_label)
        _no_data(canvas)
        return canvas.svg(title or y_label)
    assert y_extent is not None
    x_scale, x_ticks = _x_axis(*x_extent, canvas, time_axis, pad=False)
    y_scale, y_ticks = _y_axis(*y_extent, canvas)
    _axes(canvas, x_ticks, y_ticks, x_label, y_label)
    if zero_line:
        y = y_scale(0.0)
        canvas.back.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(y)}" x2="{_f(canvas.x1)}" y2="{_f(y)}" stroke="#999999"/>')
    for index, item in enumerate(series):
        stroke = item.color or color(index)
        if item.low is not None and item.high is not None:
            for run in _runs(item.x, item.low, item.high):
                upper = [f"{_f(x_scale(float(item.x[i])))},{_f(y_scale(float(item.high[i])))}" for i in run]  # type: ignore[arg-type]
                lower = [f"{_f(x_scale(float(item.x[i])))},{_f(y_scale(float(item.low[i])))}" for i in reversed(run)]  # type: ignore[arg-type]
                canvas.marks.append(f'<polygon points="{" ".join(upper + lower)}" fill="{stroke}" fill-opacity="0.18" stroke="none"/>')
        for run in _runs(item.x, item.y):
            points = [(x_scale(float(item.x[i])), y_scale(float(item.y[i]))) for i in run]  # type: ignore[arg-type]
            if len(points) == 1:
                canvas.marks.append(f'<circle cx="{_f(points[0][0])}" cy="{_f(points[0][1])}" r="2.5" fill="{stroke}"/>')
            else:
                text = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
                canvas.marks.append(f'<polyline points="{text}" fill="none" stroke="{stroke}" '
                                    f'stroke-width="{item.width}" stroke-linejoin="round"{dash(index)}/>')
    _guides(canvas, x_scale, y_scale, x_guides, y_guides)
    if len(series) > 1:
        _legend(canvas, [(s.name, s.color or color(i), "line" + dash(i)) for i, s in enumerate(series)])
    return canvas.svg(title or y_label)


def histogram_counts(values: Sequence[Number], bins: int, domain: tuple[float, float] | None = None
                     ) -> tuple[list[float], list[int], int]:
    """(bin edges, counts, values left out) of the finite values over `domain` (default: their
    extent) in `bins` equal bins; the top edge belongs to the last bin; values outside the domain
    and missing values are left out and counted."""
    numbers = finite(values)
    bins = max(1, int(bins))
    span = domain if domain is not None else extent(numbers)
    if span is None:
        return [], [], len(values)
    lo, hi = span
    if hi <= lo:
        hi = lo + 1.0
    width = (hi - lo) / bins
    counts = [0] * bins
    inside = 0
    for number in numbers:
        if lo <= number <= hi:
            counts[min(int((number - lo) / width), bins - 1)] += 1
            inside += 1
    edges = [lo + i * width for i in range(bins + 1)]
    return edges, counts, len(values) - inside


def histogram(values: Sequence[Number], *, x_label: str, y_label: str = "count", title: str = "", bins: int = 20,
              domain: tuple[float, float] | None = None, y_guides: Sequence[Guide] = (),
              x_guides: Sequence[Guide] = (), bar_color: str = PALETTE[0], width: int = 640, height: int = 300) -> str:
    """Counts of `values` in equal bins."""
    canvas = _Canvas(width, height, left=64, right=18, top=14, bottom=44)
    edges, counts, _ = histogram_counts(values, bins, domain)
    if not edges or sum(counts) == 0:
        _axes(canvas, [], [], x_label, y_label)
        _no_data(canvas)
        return canvas.svg(title or x_label)
    x_scale, x_ticks = _x_axis(edges[0], edges[-1], canvas, time_axis=False, pad=False)
    top = max([*counts, *(g.value for g in y_guides)])
    y_scale, y_ticks = _y_axis(0.0, float(top), canvas)
    _axes(canvas, x_ticks, y_ticks, x_label, y_label)
    for left, right, count in zip(edges, edges[1:], counts):
        if count == 0:
            continue
        x, y = x_scale(left), y_scale(count)
        canvas.marks.append(f'<rect x="{_f(x + 0.5)}" y="{_f(y)}" width="{_f(max(x_scale(right) - x - 1, 0.8))}" '
                            f'height="{_f(y_scale(0.0) - y)}" fill="{bar_color}"><title>'
                            f'{escape(format_number(left))} to {escape(format_number(right))}: {count}</title></rect>')
    _guides(canvas, x_scale, y_scale, x_guides, y_guides)
    return canvas.svg(title or x_label)


def scatter(groups: Sequence[PointGroup], *, x_label: str, y_label: str, title: str = "", diagonal: bool = False,
            x_guides: Sequence[Guide] = (), y_guides: Sequence[Guide] = (), width: int = 640, height: int = 340) -> str:
    """Points per group; `diagonal` draws y = x (e.g. shrunken against raw estimates)."""
    names = [g.name for g in groups]
    right = _legend_width(names, width) if len(groups) > 1 else 18
    if len(groups) > 1:
        height = max(height, 70 + 16 * len(groups))
    canvas = _Canvas(width, height, left=64, right=right, top=14, bottom=44)
    pairs = [(x, y) for g in groups for x, y in zip(g.x, g.y) if is_number(x) and is_number(y)]
    if not pairs:
        _axes(canvas, [], [], x_label, y_label)
        _no_data(canvas)
        return canvas.svg(title or y_label)
    x_extent = extent([p[0] for p in pairs], include=[g.value for g in x_guides])
    y_extent = extent([p[1] for p in pairs], include=[g.value for g in y_guides])
    assert x_extent is not None and y_extent is not None
    if diagonal:
        both = (min(x_extent[0], y_extent[0]), max(x_extent[1], y_extent[1]))
        x_extent = y_extent = both
    x_scale, x_ticks = _x_axis(*x_extent, canvas, time_axis=False)
    y_scale, y_ticks = _y_axis(*y_extent, canvas)
    _axes(canvas, x_ticks, y_ticks, x_label, y_label, x_grid=True)
    if diagonal:
        lo = max(x_scale.domain_lo, y_scale.domain_lo)
        hi = min(x_scale.domain_hi, y_scale.domain_hi)
        canvas.back.append(f'<line x1="{_f(x_scale(lo))}" y1="{_f(y_scale(lo))}" x2="{_f(x_scale(hi))}" '
                           f'y2="{_f(y_scale(hi))}" stroke="#999999" stroke-dasharray="5 4"/>')
    for index, group in enumerate(groups):
        fill = group.color or color(index)
        dots = []
        for i, (x, y) in enumerate(zip(group.x, group.y)):
            if not (is_number(x) and is_number(y)):
                continue
            dot = f'<circle cx="{_f(x_scale(float(x)))}" cy="{_f(y_scale(float(y)))}" r="{group.radius}"'  # type: ignore[arg-type]
            if group.titles is not None and i < len(group.titles):
                dots.append(f"{dot}><title>{escape(group.titles[i])}</title></circle>")
            else:
                dots.append(dot + "/>")
        if dots:
            canvas.marks.append(f'<g fill="{fill}" fill-opacity="{group.opacity}">{"".join(dots)}</g>')
    _guides(canvas, x_scale, y_scale, x_guides, y_guides)
    if len(groups) > 1:
        _legend(canvas, [(g.name, g.color or color(i), "dot") for i, g in enumerate(groups)])
    return canvas.svg(title or y_label)


def sequential_color(share: float) -> str:
    """White-to-dark-blue for a share in [0, 1] (clamped)."""
    share = min(max(share, 0.0), 1.0)
    low, high = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(low, high))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(row_labels: Sequence[str], column_labels: Sequence[str], values: Sequence[Sequence[Number]], *,
            x_label: str, y_label: str, value_label: str, title: str = "", domain: tuple[float, float] | None = None,
            value_format: Callable[[float], str] = format_number, width: int = 760, row_height: int = 24) -> str:
    """A grid of coloured cells (rows x columns) on a white-to-blue scale over `domain` (default: the
    values' range; values outside it take the end colours); a missing value is a light grey cell.
    Cells wide enough carry their value as text."""
    row_chars = max((len(label) for label in row_labels), default=4)
    left = min(200.0, 16 + CHAR_WIDTH * row_chars + 20)
    height = int(24 + 56 + max(1, len(row_labels)) * row_height)
    right = max(96.0, 24 + CHAR_WIDTH * len(value_label))
    canvas = _Canvas(width, max(height, 140), left=left, right=right, top=24, bottom=56)
    numbers = finite(v for row in values for v in row)
    if not row_labels or not column_labels or not numbers:
        _axes(canvas, [], [], x_label, "")
        _no_data(canvas)
        return canvas.svg(title or value_label)
    lo, hi = domain if domain is not None else (min(numbers), max(numbers))
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    cell_w = (canvas.x1 - canvas.x0) / len(column_labels)
    cell_h = (canvas.y1 - canvas.y0) / len(row_labels)
    annotate = cell_w >= 44 and cell_h >= 14
    for r, (row_label, row) in enumerate(zip(row_labels, values)):
        y = canvas.y0 + r * cell_h
        canvas.front.append(_text(canvas.x0 - 6, y + cell_h / 2 + 4, _truncate(row_label, 30), anchor="end"))
        for c, column_label in enumerate(column_labels):
            value = row[c] if c < len(row) else None
            x = canvas.x0 + c * cell_w
            box = f'x="{_f(x)}" y="{_f(y)}" width="{_f(cell_w + 0.3)}" height="{_f(cell_h - 1)}"'
            if is_number(value):
                share = (float(value) - lo) / (hi - lo)  # type: ignore[arg-type]
                label = value_format(float(value))  # type: ignore[arg-type]
                canvas.marks.append(f'<rect {box} fill="{sequential_color(share)}"><title>{escape(row_label)} '
                                    f'{escape(column_label)}: {escape(label)}</title></rect>')
                if annotate:
                    ink = "#ffffff" if share > 0.55 else "#1d1d1f"
                    canvas.front.append(_text(x + cell_w / 2, y + cell_h / 2 + 3.5, label, extra=f' fill="{ink}"'))
            else:
                canvas.back.append(f'<rect {box} fill="{MISSING}"><title>{escape(row_label)} {escape(column_label)}: '
                                   f'no value</title></rect>')
    every = max(1, math.ceil(len(column_labels) / max(1, int((canvas.x1 - canvas.x0) / 70))))
    for c in range(0, len(column_labels), every):
        x = canvas.x0 + (c + 0.5) * cell_w
        canvas.front.append(f'<line x1="{_f(x)}" y1="{_f(canvas.y1)}" x2="{_f(x)}" y2="{_f(canvas.y1 + 4)}" stroke="{AXIS}"/>')
        canvas.front.append(_text(x, canvas.y1 + 16, column_labels[c]))
    canvas.front.append(_text((canvas.x0 + canvas.x1) / 2, canvas.height - 8, x_label, extra=' font-weight="600"'))
    if y_label:
        canvas.front.append(_text(canvas.x0 - 6, canvas.y0 - 8, y_label, anchor="end", extra=' font-weight="600"'))
    _color_legend(canvas, lo, hi, value_label, value_format)
    return canvas.svg(title or value_label)


def _color_legend(canvas: _Canvas, lo: float, hi: float, label: str, value_format: Callable[[float], str]) -> None:
    steps = 24
    x = canvas.x1 + 18
    top, bottom = canvas.y0, max(canvas.y0 + 60, canvas.y1)
    step_h = (bottom - top) / steps
    for i in range(steps):
        share = 1 - (i + 0.5) / steps
        canvas.front.append(f'<rect x="{_f(x)}" y="{_f(top + i * step_h)}" width="12" height="{_f(step_h + 0.4)}" '
                            f'fill="{sequential_color(share)}"/>')
    canvas.front.append(_text(x + 16, top + 9, value_format(hi), anchor="start"))
    canvas.front.append(_text(x + 16, bottom, value_format(lo), anchor="start"))
    canvas.front.append(_text(x, canvas.height - 8, label, anchor="start", extra=' font-weight="600"'))


def _log_axis(values: Sequence[float], low: float, high: float) -> tuple[Callable[[float], float], list[tuple[float, str]], float]:
    """(value -> pixel, ticks, base pixel) of a base-10 log axis over whole decades holding `values`;
    the base is 1 (or the decade strictly below the smallest value when that is under 1), so the
    smallest bar is never empty."""
    lo = min(0, math.floor(math.log10(min(values)) - 1e-9))
    hi = max(math.ceil(math.log10(max(values))), lo + 1)
    scale = LinearScale(lo, hi, low, high)
    ticks = [(scale(k), format_number(10.0 ** k, 10.0 ** k)) for k in range(lo, hi + 1)]
    return (lambda v: scale(math.log10(v))), ticks, scale(lo)


def bar_chart(categories: Sequence[str], series: Sequence[BarSeries], *, value_label: str, category_label: str = "",
              title: str = "", horizontal: bool = False, category_colors: Sequence[str] | None = None,
              value_guides: Sequence[Guide] = (), show_values: bool | None = None, log_scale: bool = False,
              value_format: Callable[[float], str] = format_number, width: int = 640, height: int | None = None) -> str:
    """Bars from zero (negative values go below/left of it); several series are grouped per category.
    With `log_scale` the value axis is base-10 logarithmic and only positive values are drawn."""
    names = [s.name for s in series]
    right = _legend_width(names, width) if len(series) > 1 else 18
    n = max(1, len(categories))
    if horizontal:
        label_chars = max((len(c) for c in categories), default=4)
        left = min(260.0, 24 + CHAR_WIDTH * min(label_chars, 40))
        band = max(22, 8 + 10 * len(series))
        canvas = _Canvas(width, height or int(14 + 44 + n * band + 8), left=left, right=right + 40, top=14, bottom=44)
    else:
        canvas = _Canvas(width, height or 300, left=64, right=right, top=14, bottom=44 if n <= 12 else 70)
    values = [v for s in series for v in s.values]
    drawable = [v for v in finite(values) if v > 0] if log_scale else finite(values)
    value_extent = extent(drawable, include=(0.0, *(g.value for g in value_guides))) if not log_scale else None
    if not categories or not drawable:
        _axes(canvas, [], [], "" if horizontal else category_label, value_label)
        _no_data(canvas)
        return canvas.svg(title or value_label)
    low, high = (canvas.x0, canvas.x1) if horizontal else (canvas.y1, canvas.y0)
    guide_scale: LinearScale | None = None
    if log_scale:
        to_px, ticks, zero = _log_axis(drawable, low, high)
    else:
        assert value_extent is not None
        guide_scale = LinearScale(*nice_domain(*value_extent, 5), low, high)
        to_px, ticks, zero = guide_scale, _linear_ticks(guide_scale, 5), guide_scale(0.0)
    show = show_values if show_values is not None else n * len(series) <= 24
    if horizontal:
        _axes(canvas, ticks, [], value_label, "", x_grid=True)
        slot = (canvas.y1 - canvas.y0) / n
        for c, category in enumerate(categories):
            canvas.front.append(_text(canvas.x0 - 6, canvas.y0 + (c + 0.5) * slot + 4, _truncate(category, 40), anchor="end"))
    else:
        slot = (canvas.x1 - canvas.x0) / n
        rotate = n > 12 or max((len(c) for c in categories), default=0) * CHAR_WIDTH > slot
        _axes(canvas, [], ticks, category_label, value_label)
        for c, category in enumerate(categories):
            x = canvas.x0 + (c + 0.5) * slot
            if rotate:
                canvas.front.append(f'<text x="{_f(x)}" y="{_f(canvas.y1 + 10)}" text-anchor="end" '
                                    f'transform="rotate(-35 {_f(x)} {_f(canvas.y1 + 10)})">{escape(_truncate(category, 18))}</text>')
            else:
                canvas.front.append(_text(x, canvas.y1 + 16, category))
    inner = slot * 0.8 / max(1, len(series))
    for s_index, item in enumerate(series):
        for c, value in enumerate(item.values[: len(categories)]):
            if not is_number(value) or (log_scale and float(value) <= 0):  # type: ignore[arg-type]
                continue
            number = float(value)  # type: ignore[arg-type]
            fill = (category_colors[c] if category_colors is not None and c < len(category_colors)
                    else item.color or color(s_index))
            end = to_px(number)
            offset = slot * 0.1 + s_index * inner
            label = value_format(number)
            tip = f"<title>{escape(categories[c])}{' / ' + escape(item.name) if len(series) > 1 else ''}: {escape(label)}</title>"
            if horizontal:
                y = canvas.y0 + c * slot + offset
                x, w = min(zero, end), max(abs(end - zero), 0.8)
                canvas.marks.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(inner)}" fill="{fill}">{tip}</rect>')
                if show:
                    anchor, tx = ("start", max(zero, end) + 4) if end >= zero else ("end", min(zero, end) - 4)
                    canvas.front.append(_text(tx, y + inner / 2 + 4, label, anchor=anchor))
            else:
                x = canvas.x0 + c * slot + offset
                y, h = min(zero, end), max(abs(end - zero), 0.8)
                canvas.marks.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(inner)}" height="{_f(h)}" fill="{fill}">{tip}</rect>')
                if show:
                    canvas.front.append(_text(x + inner / 2, y - 4 if end <= zero else y + h + 12, label))
    line = (f'<line x1="{_f(zero)}" y1="{_f(canvas.y0)}" x2="{_f(zero)}" y2="{_f(canvas.y1)}" stroke="{AXIS}"/>' if horizontal
            else f'<line x1="{_f(canvas.x0)}" y1="{_f(zero)}" x2="{_f(canvas.x1)}" y2="{_f(zero)}" stroke="{AXIS}"/>')
    canvas.front.append(line)
    if guide_scale is not None:
        if horizontal:
            _guides(canvas, guide_scale, None, value_guides, ())
        else:
            _guides(canvas, None, guide_scale, (), value_guides)
    if len(series) > 1:
        _legend(canvas, [(s.name, s.color or color(i), "box") for i, s in enumerate(series)])
    return canvas.svg(title or value_label)


def area_chart(x: Sequence[Number], y: Sequence[Number], *, x_label: str, y_label: str, title: str = "",
               step: bool = True, time_axis: bool = False, baseline: float = 0.0, fill: str = PALETTE[3],
               y_guides: Sequence[Guide] = (), width: int = 640, height: int = 260) -> str:
    """The area between y and a baseline (steps by default: a value holds until the next point);
    a missing value breaks the area."""
    canvas = _Canvas(width, height, left=64, right=18, top=14, bottom=44)
    x_extent = extent(x)
    y_extent = extent(y, include=(baseline, *(g.value for g in y_guides)))
    if x_extent is None or extent(y) is None or y_extent is None:
        _axes(canvas, [], [], x_label, y_label)
        _no_data(canvas)
        return canvas.svg(title or y_label)
    x_scale, x_ticks = _x_axis(*x_extent, canvas, time_axis, pad=False)
    y_scale, y_ticks = _y_axis(*y_extent, canvas)
    _axes(canvas, x_ticks, y_ticks, x_label, y_label)
    base = y_scale(baseline)
    for run in _runs(x, y):
        points: list[tuple[float, float]] = []
        for k, i in enumerate(run):
            px, py = x_scale(float(x[i])), y_scale(float(y[i]))  # type: ignore[arg-type]
            if step and k > 0:
                points.append((px, points[-1][1]))
            points.append((px, py))
        outline = " ".join(f"{_f(px)},{_f(py)}" for px, py in points)
        area = f"{_f(points[0][0])},{_f(base)} {outline} {_f(points[-1][0])},{_f(base)}"
        canvas.marks.append(f'<polygon points="{area}" fill="{fill}" fill-opacity="0.35" stroke="none"/>')
        canvas.marks.append(f'<polyline points="{outline}" fill="none" stroke="{fill}" stroke-width="1.4"/>')
    canvas.front.append(f'<line x1="{_f(canvas.x0)}" y1="{_f(base)}" x2="{_f(canvas.x1)}" y2="{_f(base)}" stroke="{AXIS}"/>')
    _guides(canvas, x_scale, y_scale, (), y_guides)
    return canvas.svg(title or y_label)
