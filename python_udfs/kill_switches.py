"""Kill switches: when a strategy (or the whole book) must stop, found over all bars at once.

Why vectorised detection: a halt is path dependent (it changes the PnL after it, which decides the
next halt), but only after the halt bar. The engine therefore asks these functions for each
strategy's *first* breach in a chunk of bars, applies the earliest one, and goes on after it;
everything before the earliest breach is already final. Each question is a pass of numpy over the
chunk's bars, carrying the scans' state (DrawdownScan) and the last legs across chunks.

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

    def resume_bars_by_symbol(self) -> list[IntArray]:
        """resume_bars of every symbol, from one pass over the matrix."""
        bar, symbol = np.divmod(np.flatnonzero(self.gap_bars > 0), max(self.gap_bars.shape[1], 1))
        order = np.argsort(symbol, kind="stable")
        return np.split(bar[order], np.cumsum(np.bincount(symbol, minlength=self.gap_bars.shape[1]))[:-1])


class Breach(NamedTuple):
    """Per column: the first bar whose close breached (-1: none) and the measured value there."""

    bar: IntArray
    value: FloatArray


def last_true_index(mask: BoolArray) -> IntArray:
    """Per bar and column, the index of the latest True at or before the bar (-1: none yet)."""
    index = np.where(mask, np.arange(mask.shape[0])[:, None], -1)
    return np.maximum.accumulate(index, axis=0)


class FalseRuns(NamedTuple):
    """The runs of consecutive False bars [first, last] of each column of a (bars x columns) mask,
    ordered by column then bar."""

    column: IntArray
    first: IntArray
    last: IntArray


def false_runs(mask: BoolArray) -> FalseRuns:
    """Gaps are few: found from the flat positions of the False cells, not by a running scan."""
    n_columns = mask.shape[1]
    bar, column = np.divmod(np.flatnonzero(~mask), max(n_columns, 1))
    order = np.lexsort((bar, column))
    bar, column = bar[order], column[order]
    starts = np.ones(bar.size, dtype=bool)
    starts[1:] = (column[1:] != column[:-1]) | (bar[1:] != bar[:-1] + 1)
    ends = np.ones(bar.size, dtype=bool)
    ends[:-1] = starts[1:]
    return FalseRuns(column[starts], bar[starts], bar[ends])


def stale_resumes(valid: BoolArray, execution_mode: str, max_stale_bars: int) -> StaleResumes:
    """A valid bar after at least `max_stale_bars` invalid ones ends a stale gap. Trading resumes at
    it (next_open: its open is a price) or at the bar after it (close: positions change at a close)."""
    n_bars = valid.shape[0]
    runs = false_runs(valid)
    length = runs.last - runs.first + 1
    resume = runs.last + 1 + (1 if execution_mode == "close" else 0)
    ends = (runs.last + 1 < n_bars) & (length >= max_stale_bars) & (resume < n_bars)
    gap_bars = np.zeros(valid.shape, dtype=np.int64)
    gap_bars[resume[ends], runs.column[ends]] = length[ends]
    return StaleResumes(gap_bars)


BLOCK_BARS = 8192
"""Bars per block of the running scans: a block's temporaries stay in the CPU cache."""

BOUND_GROUP_BARS = 32
"""Bars per group of the drawdown scan's bound: a group's gains and losses bound how far the running
sum moves inside it."""
_BOUND_MARGIN = 1e-9
"""Relative slack of the bound, far above the rounding of any sum it stands for."""


def _group_sums(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per group of BOUND_GROUP_BARS bars (the last one may be shorter) and column: the sum of x and
    of its gains (max(x, 0)), unknown (NaN) cells counting as 0. NaN cells are few, so the groups
    they make NaN are summed again rather than every cell checked first."""
    n_bars, n_columns = x.shape
    whole = n_bars // BOUND_GROUP_BARS * BOUND_GROUP_BARS
    sums = []
    for part in (x, np.maximum(x, 0.0)):
        grouped = [part[:whole].reshape(-1, BOUND_GROUP_BARS, n_columns).sum(axis=1)] if whole else []
        if whole < n_bars:
            grouped.append(part[whole:].sum(axis=0, keepdims=True))
        sums.append(np.concatenate(grouped))
    total, gains = sums
    group, column = np.nonzero(np.isnan(total) | np.isnan(gains))
    if group.size:
        rows = group[:, None] * BOUND_GROUP_BARS + np.arange(BOUND_GROUP_BARS)[None, :]
        inside = rows < n_bars
        cells = np.where(inside, x[np.minimum(rows, n_bars - 1), column[:, None]], 0.0)
        total[group, column] = np.nansum(cells, axis=1)
        gains[group, column] = np.nansum(np.maximum(cells, 0.0), axis=1)
    return total, gains


class DrawdownScan:
    """first_drawdown_breach over blocks of bars fed in time order, so that a caller making its net
    PnL block by block scans each block while it is in the CPU cache.

    Why a bound first: the exact scan is a running sum per column, which numpy cannot vectorise
    across columns (about 5 ns a cell), while sums over groups of bars are cheap. Inside a group the
    running sum stays between its value at the group's start minus the group's losses and plus its
    gains, so each block gives a bound on the lowest equity and the highest peak (with a slack far
    above any rounding); a column whose bound stays below the limit cannot breach in the block. Only
    the other columns run the exact arithmetic, caught up from the last block they were exact at,
    block by block as one pass over every cell would (so the breach bar and value are the same)."""

    def __init__(self, base: FloatArray, limit: float) -> None:
        self.base = np.asarray(base, dtype=np.float64)
        self.limit = limit
        n = self.base.size
        self.blocks: list[tuple[int, int]] = []
        # the exact state (carried running sum and peak) of each column, as of the start of block exact_at
        self.exact_at = np.zeros(n, dtype=np.int64)
        self.carried = np.zeros(n)
        self.peak = self.base.copy()
        # the bound's state: an estimate of the running sum, the sum of |net| so far, bounds of the peak
        self.approx = np.zeros(n)
        self.magnitude = np.zeros(n)
        self.peak_high = self.base.copy()
        self.peak_low = self.base.copy()
        self.open = np.ones(n, dtype=bool)
        self.bar = np.full(n, NO_BREACH, dtype=np.int64)
        self.value = np.full(n, np.nan)

    def feed(self, net: FloatArray, start: int, stop: int) -> None:
        """The bars [start, stop) of `net` (bars x columns; the rows before `stop` are final; unknown
        PnL counts as 0)."""
        if stop <= start or self.base.size == 0:
            return
        self.blocks.append((start, stop))
        with np.errstate(invalid="ignore", over="ignore"):  # an infinite PnL makes its column a suspect
            suspect = np.flatnonzero(self.open & ~self._cannot_breach(net[start:stop]))
        if suspect.size:
            self._exact(net, suspect)

    def _cannot_breach(self, x: FloatArray) -> BoolArray:
        """Per column: True when no bar of the block x can breach, whatever the rounding. Inside a
        group of bars the running sum stays between its value at the group's start minus the group's
        losses and plus its gains."""
        total, gains = _group_sums(x)
        losses = gains - total
        ends = np.cumsum(total, axis=0) + self.approx
        starts = np.vstack([self.approx[None, :], ends[:-1]])
        self.magnitude = self.magnitude + gains.sum(axis=0) + np.abs(losses).sum(axis=0)
        margin = _BOUND_MARGIN * (self.magnitude + np.abs(self.approx) + np.abs(self.base))
        lowest = (starts - losses).min(axis=0) + self.base - margin
        highest = (starts + gains).max(axis=0) + self.base + margin
        self.approx = ends[-1]
        peak_low = self.peak_low
        self.peak_high = np.maximum(self.peak_high, highest)
        self.peak_low = np.maximum(peak_low, ends.max(axis=0) + self.base - margin)
        return (peak_low > 0) & (self.peak_high - lowest < self.limit * peak_low * (1 - _BOUND_MARGIN))

    def _exact(self, net: FloatArray, columns: IntArray) -> None:
        """Catch the columns up to the last block fed, with the arithmetic of one pass over every
        cell, and record their first breach; columns exact as of the same block go together. The
        blocks before the last one were cleared by the bound, so they only move the running sum and
        peak (rounding is monotone, so the highest equity is the highest running sum's)."""
        last = len(self.blocks) - 1
        for first in np.unique(self.exact_at[columns]):
            group = columns[self.exact_at[columns] == first]
            carried, peak, base = self.carried[group], self.peak[group], self.base[group]
            for index in range(int(first), last + 1):
                start, stop = self.blocks[index]
                running = np.cumsum(np.nan_to_num(net[start:stop][:, group], nan=0.0), axis=0)
                running += carried
                carried = running[-1].copy()
                if index < last:
                    peak = np.maximum(peak, running.max(axis=0) + base)
                    continue
                equity = running + base
                block_peak = np.maximum(np.maximum.accumulate(equity, axis=0), peak)
                peak = block_peak[-1].copy()
                self._record(start, group, equity, block_peak)
            self.carried[group], self.peak[group] = carried, peak
            self.exact_at[group] = last + 1

    def _record(self, start: int, columns: IntArray, equity: FloatArray, block_peak: FloatArray) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = np.where(block_peak > 0, (block_peak - equity) / block_peak, np.inf)
        breached = (drawdown >= self.limit) & self.open[columns]
        hit = breached.any(axis=0)
        if hit.any():
            first = breached.argmax(axis=0)
            local = np.flatnonzero(hit)
            self.bar[columns[local]] = start + first[local]
            self.value[columns[local]] = drawdown[first[local], local]
            self.open[columns[local]] = False

    def breach(self) -> Breach:
        return Breach(self.bar.copy(), self.value.copy())

    _STATE = ("exact_at", "carried", "peak", "approx", "magnitude", "peak_high", "peak_low", "open", "bar", "value")

    def snapshot(self) -> tuple[int, tuple[np.ndarray, ...]]:
        """The scan's state after the blocks fed so far: feeding blocks again from there (the engine
        redoes a chunk of bars after a halt) starts from `restore(snapshot)`."""
        return len(self.blocks), tuple(getattr(self, name).copy() for name in self._STATE)

    def restore(self, snapshot: tuple[int, tuple[np.ndarray, ...]]) -> None:
        fed, arrays = snapshot
        del self.blocks[fed:]
        for name, values in zip(self._STATE, arrays):
            setattr(self, name, values.copy())


def first_drawdown_breach(net: FloatArray, base: FloatArray, limit: float) -> Breach:
    """Equity = base + cumulative known net PnL (unknown bars add nothing); the first bar where
    (running peak - equity) / running peak >= limit, the peak including the starting base. Scanned
    in blocks of bars, carrying the running sum and peak (DrawdownScan)."""
    scan = DrawdownScan(base, limit)
    for start in range(0, net.shape[0], BLOCK_BARS):
        scan.feed(net, start, min(start + BLOCK_BARS, net.shape[0]))
    return scan.breach()


def first_slippage_breach(column: IntArray, bar: IntArray, n_columns: int, paid: FloatArray, wanted: FloatArray,
                          window: int, limit: float, judged: BoolArray | None = None) -> Breach:
    """Per column, over its legs in time order (the legs sorted by column, then bar): the first leg at
    which the last `window` legs paid more than `limit` times the expected slippage. A window with
    an unknown cost is not judged, nor a leg outside `judged` (legs judged before, given as the
    start of their column's windows)."""
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
    if judged is not None:
        breached &= judged
    hits = np.flatnonzero(breached)
    if hits.size:
        first_hit = hits[np.unique(column[hits], return_index=True)[1]]
        out_bar[column[first_hit]] = bar[first_hit]
        out_value[column[first_hit]] = ratio[first_hit]
    return Breach(out_bar, out_value)
