"""The 5m bar grid of the window, its calendar periods (months and days as Binance files them) and
the intraday/weekly seasonality profiles."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np

BAR_MS = 300_000
BARS_PER_DAY = 288
DAY_MS = 86_400_000

# Seasonality of |return| and of volume by UTC hour and by weekday (Monday first), measured on
# Binance spot BTCUSDT 5m bars 2023-10..2025-02 and rounded: US hours busy, Asia night and weekends
# quiet.
HOUR_VOL = (1.01, 1.04, 0.93, 0.79, 0.75, 0.74, 0.77, 0.80, 0.85, 0.82, 0.79, 0.83,
            0.99, 1.22, 1.48, 1.38, 1.25, 1.20, 1.15, 1.12, 1.11, 1.05, 1.03, 0.89)
HOUR_VOLUME = (0.88, 0.90, 0.87, 0.75, 0.69, 0.69, 0.74, 0.89, 0.88, 0.86, 0.81, 0.86,
               1.05, 1.33, 1.73, 1.67, 1.42, 1.22, 1.13, 1.11, 1.09, 0.85, 0.81, 0.79)
WEEKDAY_VOL = (1.18, 1.17, 1.13, 1.09, 1.09, 0.62, 0.71)
WEEKDAY_VOLUME = (1.24, 1.24, 1.18, 1.10, 1.13, 0.51, 0.59)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months (the day of month is kept; config keeps it <= 28)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


def epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


@dataclass(frozen=True)
class Period:
    """A calendar month or day as a half-open range of bar indices [start_bar, stop_bar)."""

    label: str
    """`YYYY-MM` or `YYYY-MM-DD`, the period part of a Binance file name."""
    first_day: date
    start_bar: int
    stop_bar: int
    complete: bool
    """True when the whole calendar period lies inside the window."""


@dataclass(frozen=True)
class Timeline:
    """Bars of the window [start, end) at 5m spacing, keyed by open time in epoch ms."""

    start: date
    end: date
    open_ms: np.ndarray

    @property
    def n(self) -> int:
        return int(self.open_ms.size)

    @property
    def start_ms(self) -> int:
        return int(self.open_ms[0])

    def bar_of(self, ms: int) -> int:
        """Index of the bar containing epoch-ms `ms` (may fall outside [0, n))."""
        return (int(ms) - self.start_ms) // BAR_MS

    def days(self) -> list[Period]:
        out = []
        day = self.start
        while day < self.end:
            first = (epoch_ms(day) - self.start_ms) // BAR_MS
            out.append(Period(day.isoformat(), day, first, first + BARS_PER_DAY, True))
            day += timedelta(days=1)
        return out

    def months(self) -> list[Period]:
        """Calendar months touching the window; `complete` is False for a month the window cuts."""
        out = []
        month = date(self.start.year, self.start.month, 1)
        while month < self.end:
            nxt = add_months(month, 1)
            lo, hi = max(month, self.start), min(nxt, self.end)
            a = (epoch_ms(lo) - self.start_ms) // BAR_MS
            b = (epoch_ms(hi) - self.start_ms) // BAR_MS
            out.append(Period(month.strftime("%Y-%m"), lo, a, b, lo == month and hi == nxt))
            month = nxt
        return out

    def monthly_published(self) -> list[Period]:
        """Months Binance would have a monthly file for by the end of the window: every month that
        has closed (a symbol listed mid-month gets a short first monthly file); the month the window
        ends in is still open and exists only as daily files."""
        return [m for m in self.months() if add_months(date(m.first_day.year, m.first_day.month, 1), 1) <= self.end]

    def trailing_days(self) -> list[Period]:
        """Days of the still-open last month (daily files only)."""
        published_to = max((m.stop_bar for m in self.monthly_published()), default=0)
        return [d for d in self.days() if d.start_bar >= published_to]

    def hour(self) -> np.ndarray:
        return ((self.open_ms // 3_600_000) % 24).astype(np.int64)

    def weekday(self) -> np.ndarray:
        """Monday = 0 (1970-01-01 was a Thursday)."""
        return ((self.open_ms // DAY_MS + 3) % 7).astype(np.int64)

    def minute(self) -> np.ndarray:
        return ((self.open_ms // 60_000) % 60).astype(np.int64)


def build_timeline(start: date, months: int) -> Timeline:
    end = add_months(start, months)
    first, last = epoch_ms(start), epoch_ms(end)
    return Timeline(start, end, np.arange(first, last, BAR_MS, dtype=np.int64))


def vol_season(tl: Timeline) -> np.ndarray:
    """Multiplier of the per-bar volatility, normalised to mean square 1 over a week."""
    raw = np.asarray(HOUR_VOL)[tl.hour()] * np.asarray(WEEKDAY_VOL)[tl.weekday()]
    week = np.outer(np.asarray(WEEKDAY_VOL), np.asarray(HOUR_VOL))
    return raw / np.sqrt(np.mean(week**2))


def volume_season(tl: Timeline) -> np.ndarray:
    """Multiplier of traded volume, normalised to mean 1 over a week."""
    raw = np.asarray(HOUR_VOLUME)[tl.hour()] * np.asarray(WEEKDAY_VOLUME)[tl.weekday()]
    week = np.outer(np.asarray(WEEKDAY_VOLUME), np.asarray(HOUR_VOLUME))
    return raw / np.mean(week)


def days_in_month(period: str) -> int:
    year, month = int(period[:4]), int(period[5:7])
    return calendar.monthrange(year, month)[1]
