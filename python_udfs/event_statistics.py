"""Per-cell statistics of event returns for phase 2, vectorised over all cells at once.

A cell is one hypothesis (event x symbol x horizon x rule template x state condition); its sample
is the after-cost return of every event in it, ordered in time by bar index. Why not hac.py on each
cell: there are tens of thousands of cells with a few dozen events each, so a Python loop per cell
would dominate the stage. Everything here is a handful of numpy passes over all rows.

HAC in bar time. Two h-bar windows that start d < h bars apart overlap and are correlated; events
further apart are not. The Newey-West long-run variance of the cell's series laid on the bar grid
(missing at non-event bars) keeps only pairs of events at most L bars apart, with Bartlett weight
1 - d / (L + 1). With L = `hac_lag(h)` = 2h - 1 (>= h - 1 as required), overlapping pairs keep at
least half their weight, which keeps the test near its nominal size where L = h - 1 is liberal.
This is exactly `hac.newey_west_lrv` of the dense bar-grid series with NaN between events
(tests/stats cross-check the two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def hac_lag(horizon_bars: int | IntArray) -> IntArray:
    """Newey-West lag in bars for h-bar forward returns: 2h - 1 (at least h - 1)."""
    return np.maximum(2 * np.asarray(horizon_bars, dtype=np.int64) - 1, 0)


@dataclass(frozen=True)
class CellStatistics:
    """One entry per cell (index = cell code). NaN where undefined (n < 2, zero variance)."""

    n: IntArray
    n_deoverlapped: IntArray
    mean: FloatArray
    median: FloatArray
    std: FloatArray
    hit_rate: FloatArray
    hac_se: FloatArray
    t: FloatArray
    p_two_sided: FloatArray
    p_positive: FloatArray
    """One-sided p-value of H0: mean <= 0 against a positive mean (an edge), Student t with n - 1 df."""
    mean_first_half: FloatArray
    mean_second_half: FloatArray


def cell_statistics(cell: npt.ArrayLike, bar_index: npt.ArrayLike, value: npt.ArrayLike,
                    horizon_bars: npt.ArrayLike, n_cells: int) -> CellStatistics:
    """Statistics of `value` per `cell` (codes 0..n_cells-1); `horizon_bars` is per cell.

    Rows with a NaN value are ignored. Within a cell, rows are ordered by bar_index (ties keep
    their input order)."""
    cell = np.asarray(cell, dtype=np.int64)
    index = np.asarray(bar_index, dtype=np.int64)
    x = np.asarray(value, dtype=np.float64)
    horizons = np.asarray(horizon_bars, dtype=np.int64)
    if horizons.shape != (n_cells,):
        raise ValueError(f"horizon_bars must have one entry per cell ({n_cells}), got shape {horizons.shape}")
    keep = ~np.isnan(x)
    cell, index, x = cell[keep], index[keep], x[keep]
    order = np.lexsort((index, cell))
    cell, index, x = cell[order], index[order], x[order]

    n = np.bincount(cell, minlength=n_cells).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cell, weights=x, minlength=n_cells) / n
    e = x - mean[cell]
    sum_sq = np.bincount(cell, weights=e * e, minlength=n_cells)
    lags = hac_lag(horizons)
    cross = np.zeros(n_cells)
    for offset in range(1, x.size):
        same = cell[offset:] == cell[:-offset]
        distance = index[offset:] - index[:-offset]
        lag = lags[cell[offset:]]
        pairs = same & (distance <= lag)
        if not pairs.any():
            break  # rows are sorted by bar index within a cell: farther offsets are farther apart
        weight = 1.0 - distance[pairs] / (lag[pairs] + 1.0)
        cross += np.bincount(cell[offset:][pairs], weights=weight * e[offset:][pairs] * e[:-offset][pairs],
                             minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        lrv = np.maximum((sum_sq + 2.0 * cross) / n, 0.0)
        hac_se = np.where(n >= 2, np.sqrt(lrv / n), np.nan)
        std = np.where(n >= 2, np.sqrt(sum_sq / np.maximum(n - 1, 1)), np.nan)
        t = np.where(hac_se > 0, mean / hac_se, np.nan)
    p = np.full(n_cells, np.nan)
    p_positive = np.full(n_cells, np.nan)
    ok = np.isfinite(t)
    p[ok] = np.minimum(1.0, 2.0 * stats.t.sf(np.abs(t[ok]), n[ok] - 1))
    p_positive[ok] = stats.t.sf(t[ok], n[ok] - 1)

    with np.errstate(invalid="ignore", divide="ignore"):
        hit_rate = np.bincount(cell, weights=(x > 0).astype(float), minlength=n_cells) / n
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    position = np.arange(x.size) - starts[cell]
    first = position < n[cell] / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_first = np.bincount(cell[first], weights=x[first], minlength=n_cells) / np.bincount(cell[first], minlength=n_cells)
        mean_second = (np.bincount(cell[~first], weights=x[~first], minlength=n_cells)
                       / np.bincount(cell[~first], minlength=n_cells))
    return CellStatistics(n=n, n_deoverlapped=deoverlapped_counts(cell, index, horizons, n_cells), mean=mean,
                          median=cell_medians(cell, x, n_cells), std=std, hit_rate=hit_rate, hac_se=hac_se, t=t,
                          p_two_sided=p, p_positive=p_positive, mean_first_half=mean_first, mean_second_half=mean_second)


def cell_medians(cell: IntArray, x: FloatArray, n_cells: int) -> FloatArray:
    """Median per cell from one lexsort (no loop over cells)."""
    order = np.lexsort((x, cell))
    sorted_x = x[order]
    n = np.bincount(cell, minlength=n_cells)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    median = np.full(n_cells, np.nan)
    has = n > 0
    low = starts[has] + (n[has] - 1) // 2
    high = starts[has] + n[has] // 2
    median[has] = 0.5 * (sorted_x[low] + sorted_x[high])
    return median


def deoverlapped_counts(cell: IntArray, index: IntArray, horizons: IntArray, n_cells: int) -> IntArray:
    """Events per cell whose h-bar windows do not overlap, kept greedily in time order (an event
    counts when it starts at least h bars after the last counted one). Rows sorted by (cell, index).
    Only cells with a pair closer than h need the sequential pass."""
    counts = np.bincount(cell, minlength=n_cells).astype(np.int64)
    if cell.size < 2:
        return counts
    close = (cell[1:] == cell[:-1]) & (index[1:] - index[:-1] < horizons[cell[1:]])
    for code in np.unique(cell[1:][close]):
        rows = index[cell == code]
        h = int(horizons[code])
        kept, last = 0, -math.inf
        for value in rows.tolist():
            if value >= last + h:
                kept += 1
                last = value
        counts[code] = kept
    return counts
