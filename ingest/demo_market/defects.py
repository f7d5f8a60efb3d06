"""The archive defects we plant on purpose, at realistic rates, so the ingester is tested on them:
maintenance gaps, duplicated rows, headerless old files, a monthly file missing a day that its daily
file has, metrics rows out of order, interleaved book-ticker rows. (The spot microsecond switch is a
rule of the format, applied by the writers.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BARS_PER_DAY, Timeline

KLINE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
_MARKET_CODE = {"um": 1, "spot": 2}
_KIND_CODE = {k: i for i, k in enumerate(KLINE_KINDS + ("metrics", "bookTicker"))}


@dataclass(frozen=True)
class MissingDay:
    """A day absent from a monthly archive although its daily archive exists (as in BPD#253)."""

    market: str
    kind: str
    symbol: str
    day: str


@dataclass(frozen=True)
class DefectPlan:
    seed: int
    maintenance: tuple[tuple[int, int], ...]
    """Bar ranges [start, stop) with no rows at all (every symbol, both markets, metrics too)."""
    headerless_months: frozenset[str]
    """Months whose UM kline-family files carry no header row (older Binance files)."""
    missing_days: tuple[MissingDay, ...]
    book_ticker_days: tuple[str, ...]
    kline_duplicate_rate: float = 0.02
    metrics_duplicate_rate: float = 0.01
    metrics_shuffle_rate: float = 0.15
    book_interleave_rate: float = 0.5
    forced_kline_duplicate: tuple[str, str, str, str] | None = None
    """(market, kind, symbol, month) that always gets duplicates, so every archive has some."""
    forced_metrics_duplicate: tuple[str, str] | None = None

    def gap_mask(self, n: int) -> np.ndarray:
        gap = np.zeros(n, dtype=bool)
        for a, b in self.maintenance:
            gap[a:b] = True
        return gap

    def missing_day(self, market: str, kind: str, symbol: str, month: str) -> str | None:
        for m in self.missing_days:
            if (m.market, m.kind, m.symbol) == (market, kind, symbol) and m.day.startswith(month):
                return m.day
        return None

    def kline_duplicates(self, market: str, kind: str, symbol_index: int, symbol: str, period_index: int,
                         period: str, nrows: int) -> tuple[int, int] | None:
        """(first row, count) of a block repeated right after itself, or None."""
        rng = stream(self.seed, "defect-kline-dup", symbol_index, _MARKET_CODE[market], _KIND_CODE[kind], period_index)
        forced = self.forced_kline_duplicate == (market, kind, symbol, period)
        if nrows < 100 or not (forced or rng.random() < self.kline_duplicate_rate):
            return None
        count = int(rng.integers(5, 60))
        return int(rng.integers(0, nrows - count)), count

    def metrics_defects(self, symbol_index: int, symbol: str, day_index: int, day: str,
                        nrows: int) -> tuple[tuple[int, int] | None, np.ndarray | None]:
        """(duplicate block, row permutation) for one daily metrics file."""
        rng = stream(self.seed, "defect-metrics", symbol_index, day_index)
        dup = None
        if nrows > 20 and (self.forced_metrics_duplicate == (symbol, day) or rng.random() < self.metrics_duplicate_rate):
            count = int(rng.integers(2, 12))
            dup = (int(rng.integers(0, nrows - count)), count)
        perm = None
        if nrows > 20 and rng.random() < self.metrics_shuffle_rate:
            perm = np.arange(nrows)
            moved = rng.choice(nrows, size=max(2, nrows // 10), replace=False)
            perm[np.sort(moved)] = moved
        return dup, perm

    def book_interleave(self, symbol_index: int, day_index: int, nrows: int) -> np.ndarray | None:
        """A row order with ~2% of neighbouring rows swapped (rows not in time order), or None."""
        rng = stream(self.seed, "defect-book", symbol_index, day_index)
        if nrows < 10 or rng.random() >= self.book_interleave_rate:
            return None
        perm = np.arange(nrows)
        swap = np.flatnonzero(rng.random(nrows - 1) < 0.02)
        swap = swap[np.r_[True, np.diff(swap) > 1]] if swap.size else swap
        perm[swap], perm[swap + 1] = swap + 1, swap
        return perm


def _maintenance(tl: Timeline, seed: int) -> tuple[tuple[int, int], ...]:
    """2-4 windows a year (at least one), 1-3 h, starting on the hour in 00-08 UTC like Binance's."""
    rng = stream(seed, "defect-maintenance")
    days = tl.n // BARS_PER_DAY
    count = max(1, int(round(3 * days / 365)))
    windows: list[tuple[int, int]] = []
    tries = 0
    while len(windows) < count and tries < 1000 and days > 6:
        tries += 1
        day = int(rng.integers(3, days - 2))
        start = day * BARS_PER_DAY + int(rng.integers(0, 9)) * 12
        stop = start + int(rng.integers(12, 37))
        if all(stop + BARS_PER_DAY < a or start > b + BARS_PER_DAY for a, b in windows):
            windows.append((start, stop))
    return tuple(sorted(windows))


def _iso(d: date) -> str:
    return d.isoformat()


def plan_defects(tl: Timeline, seed: int, symbols: list[str]) -> DefectPlan:
    months = tl.monthly_published()
    missing: list[MissingDay] = []

    def day_in(period_index: int, day_of_month: int) -> str | None:
        m = months[period_index]
        d = date(m.first_day.year, m.first_day.month, day_of_month)
        return _iso(d) if m.first_day <= d < m.first_day + timedelta(days=(m.stop_bar - m.start_bar) // BARS_PER_DAY) else None

    if len(months) >= 2:
        day = day_in(1, 10)
        if day:
            missing.append(MissingDay("um", "klines", symbols[0], day))
    if len(months) >= 3:
        day = day_in(min(3, len(months) - 1), 21)
        if day:
            missing.append(MissingDay("spot", "klines", symbols[min(1, len(symbols) - 1)], day))

    rng = stream(seed, "defect-book-days")
    all_days = [d.label for d in tl.days()]
    extra = min(len(all_days) - 1, tl.n // (BARS_PER_DAY * 120))
    picks = sorted(rng.choice(np.arange(1, len(all_days)), size=extra, replace=False).tolist()) if extra > 0 else []
    book_days = tuple([all_days[0]] + [all_days[i] for i in picks])

    forced_dup = ("um", "klines", symbols[0], months[-1].label) if months else None
    days = tl.days()
    forced_metrics = (symbols[0], days[min(4, len(days) - 1)].label)
    return DefectPlan(
        seed=seed,
        maintenance=_maintenance(tl, seed),
        headerless_months=frozenset({tl.months()[0].label}),
        missing_days=tuple(missing),
        book_ticker_days=book_days,
        forced_kline_duplicate=forced_dup,
        forced_metrics_duplicate=forced_metrics,
    )
