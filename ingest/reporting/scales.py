"""Axis scales, tick positions and tick labels for the report's hand-written SVG charts.

Why not a plotting library: the report must be one self-contained file that renders offline, and
the project installs no plotting stack. Keeping the arithmetic here (pure functions, no state) lets
the chart module stay about drawing and lets the tests check the scaling on its own."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

Number = float | int | None


def finite(values: Iterable[Number]) -> list[float]:
    """The finite numbers of `values`: None, NaN and infinities are gaps, never zeros."""
    out: list[float] = []
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        number = float(value)
        if math.isfinite(number):
            out.append(number)
    return out


def is_number(value: Number) -> bool:
    """Whether `value` is a finite number a chart can place."""
    return value is not None and not isinstance(value, bool) and math.isfinite(float(value))


def extent(values: Iterable[Number], include: Sequence[float] = ()) -> tuple[float, float] | None:
    """(min, max) of the finite values and `include` (e.g. 0 for bars); widened when it is a single
    point so a scale never divides by zero; None when there is nothing finite to show."""
    numbers = finite(values)
    if not numbers:
        return None
    numbers.extend(float(v) for v in include)
    lo, hi = min(numbers), max(numbers)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


def nice_step(span: float, target_ticks: int) -> float:
    """A 1-2-5 step that cuts `span` into about `target_ticks` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target_ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10.0 * magnitude


def nice_domain(lo: float, hi: float, target_ticks: int = 5) -> tuple[float, float]:
    """`(lo, hi)` widened outward to whole steps, so the axis ends on a tick."""
    step = nice_step(hi - lo, target_ticks)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def nice_ticks(lo: float, hi: float, target_ticks: int = 5) -> list[float]:
    """Tick positions on whole 1-2-5 steps inside [lo, hi]."""
    step = nice_step(hi - lo, target_ticks)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [_clean(i * step) for i in range(first, last + 1)]


def _clean(value: float) -> float:
    """Remove float noise such as 0.30000000000000004 and -0.0."""
    cleaned = round(value, 12)
    return 0.0 if cleaned == 0 else cleaned


def format_number(value: Number, step: float | None = None) -> str:
    """A short label: as many decimals as the tick step needs, k/M for large values."""
    if not is_number(value):
        return "n/a"
    number = float(value)  # type: ignore[arg-type]
    magnitude = abs(number)
    if magnitude >= 1e6 and (step is None or step >= 1e5):
        return f"{number / 1e6:g}M"
    if magnitude >= 1e4 and (step is None or step >= 1e3):
        return f"{number / 1e3:g}k"
    if step is not None and step > 0:
        decimals = max(0, min(6, -math.floor(math.log10(step) + 1e-9)))
        if step * 10 ** decimals % 1 > 1e-6:  # steps such as 2.5 need one more decimal
            decimals += 1
        return f"{number:.{decimals}f}"
    return f"{number:.4g}"


@dataclass(frozen=True)
class LinearScale:
    """Maps a data interval onto a pixel interval (the range may run backwards, as y does)."""

    domain_lo: float
    domain_hi: float
    range_lo: float
    range_hi: float

    def __call__(self, value: float) -> float:
        span = self.domain_hi - self.domain_lo
        share = 0.5 if span == 0 else (value - self.domain_lo) / span
        return self.range_lo + share * (self.range_hi - self.range_lo)

    def ticks(self, target_ticks: int = 5) -> list[float]:
        return nice_ticks(min(self.domain_lo, self.domain_hi), max(self.domain_lo, self.domain_hi), target_ticks)


TIME_STEPS_SECONDS = (3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400,
                      30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400)
"""Candidate spacings of time ticks: hours to a year."""


def time_ticks(lo: float, hi: float, target_ticks: int = 6) -> list[tuple[float, str]]:
    """(epoch seconds, label) ticks for a UTC time axis: whole hours, days, weeks or months.

    Weekly and longer steps are aligned to the first day of a month when the step is a month or
    more, else to whole days, so labels read as dates."""
    span = hi - lo
    if span <= 0:
        return [(lo, _time_label(lo, 86400))]
    step = next((s for s in TIME_STEPS_SECONDS if span / s <= target_ticks), TIME_STEPS_SECONDS[-1])
    if step >= 30 * 86400:
        return _month_ticks(lo, hi, max(1, round(step / (30 * 86400))))
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + 1e-6:
        ticks.append((float(value), _time_label(value, step)))
        value += step
    return ticks


def _month_ticks(lo: float, hi: float, months: int) -> list[tuple[float, str]]:
    start = datetime.fromtimestamp(lo, tz=timezone.utc)
    year, month = start.year, start.month
    if start != datetime(year, month, 1, tzinfo=timezone.utc):
        month += 1
    ticks = []
    while True:
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1
        moment = datetime(year, month, 1, tzinfo=timezone.utc)
        seconds = moment.timestamp()
        if seconds > hi:
            return ticks
        if (month - 1) % months == 0:
            ticks.append((seconds, moment.strftime("%Y-%m")))
        month += 1


def _time_label(seconds: float, step: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if step < 86400:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d") if step >= 7 * 86400 else moment.strftime("%m-%d")
