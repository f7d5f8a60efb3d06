"""Kill switches: when a strategy (or the whole book) must stop, found over all bars at once.

Why vectorised detection: a halt is path dependent (it changes the PnL after it, which decides the
next halt), but only after the halt bar. The engine therefore asks these functions for each
strategy's *first* breach on the current path, applies the earliest one, and asks again; everything
before the earliest breach is already final. Each question is a pass of numpy over the bars.

Triggers:
- data staleness: a symbol without a price for at least `max_stale_bars` bars; positions on it are
  closed at the first bar that can trade again (the "resume" bar);
- drawdown: equity (a base plus the cumulative known net PnL) falls `limit` below its running peak;
- slippage: over a strategy's last `window` legs, the spread and impact paid exceed `limit` times what
  the discovery cost model expected for the same legs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_BREACH = -1


class StaleResumes(NamedTuple):
    """Per bar and symbol, at each resume bar, the length of the stale gap it ends (0 elsewhere)."""

    gap_bars: IntArray

    def resume_bars(self, symbol: int) -> IntArray:
        """The resume bars of one symbol, in time order."""
        return np.flatnonzero(self.gap_bars[:, symbol] > 0)


class Breach(NamedTuple):
    """Per column: the first bar whose close breached (-1: none) and the measured value there."""

    bar: IntArray
    value: FloatArray


def last_true_index(mask: BoolArray) -> IntArray:
    """Per bar and column, the index of the latest True at or before the bar (-1: none yet)."""
    index = np.where(mask, np.arange(mask.shape[0])[:, None], -1)
    return np.maximum.accumulate(index, axis=0)


def stale_resumes(valid: BoolArray, execution_mode: str, max_stale_bars: int) -> StaleResumes:
    """A valid bar after at least `max_stale_bars` invalid ones ends a stale gap. Trading resumes at
    it (next_open: its open is a price) or at the bar after it (close: positions change at a close)."""
    n_bars = valid.shape[0]
    last_valid = last_true_index(valid)
    before = np.vstack([np.full((1, valid.shape[1]), -1), last_valid[:-1]]) if n_bars else last_valid
    gap = np.where(valid, np.arange(n_bars)[:, None] - before - 1, 0)
    ends_stale_gap = valid & (gap >= max_stale_bars)
    if execution_mode == "close":
        ends_stale_gap = np.vstack([np.zeros((1, valid.shape[1]), dtype=bool), ends_stale_gap[:-1]])[:n_bars]
        gap = np.vstack([np.zeros((1, valid.shape[1]), dtype=np.int64), gap[:-1]])[:n_bars]
    return StaleResumes(np.where(ends_stale_gap, gap, 0))


BLOCK_BARS = 8192
"""Bars per block of the running scans: a block's temporaries stay in the CPU cache."""


def first_drawdown_breach(net: FloatArray, base: FloatArray, limit: float) -> Breach:
    """Equity = base + cumulative known net PnL (unknown bars add nothing); the first bar where
    (running peak - equity) / running peak >= limit, the peak including the starting base. Scanned
    in blocks of bars, carrying the running sum and peak."""
    n_bars, n_columns = net.shape
    out_bar = np.full(n_columns, NO_BREACH, dtype=np.int64)
    out_value = np.full(n_columns, np.nan)
    carried = np.zeros(n_columns)
    peak = base.astype(np.float64).copy()
    open_ = np.ones(n_columns, dtype=bool)
    for start in range(0, n_bars, BLOCK_BARS):
        block = np.nan_to_num(net[start:start + BLOCK_BARS], nan=0.0)
        running = np.cumsum(block, axis=0)
        running += carried
        carried = running[-1].copy()
        equity = running + base
        block_peak = np.maximum(np.maximum.accumulate(equity, axis=0), peak)
        peak = block_peak[-1].copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = np.where(block_peak > 0, (block_peak - equity) / block_peak, np.inf)
        breached = (drawdown >= limit) & open_
        hit = breached.any(axis=0)
        if hit.any():
            first = breached.argmax(axis=0)
            columns = np.flatnonzero(hit)
            out_bar[columns] = start + first[columns]
            out_value[columns] = drawdown[first[columns], columns]
            open_[columns] = False
    return Breach(out_bar, out_value)


def first_slippage_breach(column: IntArray, bar: IntArray, n_columns: int, paid: FloatArray, wanted: FloatArray,
                          window: int, limit: float) -> Breach:
    """Per column, over its legs in time order (the legs sorted by column, then bar): the first leg at
    which the last `window` legs paid more than `limit` times the expected slippage. A window with
    an unknown cost is not judged."""
    out_bar = np.full(n_columns, NO_BREACH, dtype=np.int64)
    out_value = np.full(n_columns, np.nan)
    if column.size == 0:
        return Breach(out_bar, out_value)
    unknown = np.isnan(paid) | np.isnan(wanted)
    sums = [np.concatenate([[0.0], np.cumsum(np.where(unknown, 0.0, x))]) for x in (paid, wanted)]
    unknown_sum = np.concatenate([[0], np.cumsum(unknown)])
    position = np.arange(column.size)
    group_start = np.searchsorted(column, column, side="left")
    full = position - group_start >= window - 1
    start = np.where(full, position + 1 - window, 0)
    paid_sum = sums[0][position + 1] - sums[0][start]
    wanted_sum = sums[1][position + 1] - sums[1][start]
    known = unknown_sum[position + 1] - unknown_sum[start] == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(wanted_sum > 0, paid_sum / wanted_sum, np.inf)
    breached = full & known & (ratio > limit)
    hits = np.flatnonzero(breached)
    if hits.size:
        first_hit = hits[np.unique(column[hits], return_index=True)[1]]
        out_bar[column[first_hit]] = bar[first_hit]
        out_value[column[first_hit]] = ratio[first_hit]
    return Breach(out_bar, out_value)
