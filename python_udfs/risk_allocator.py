"""The risk allocator: four deterministic caps on the strategies' target weights, in this order:
strategy (|weight| of one strategy), symbol (|net weight| of the strategies on one symbol),
portfolio (sum over symbols of |net weight|) and the exposure added within one bar.

Why this shape: the first three layers depend only on the bar's targets, so they are applied to the
whole (bars x strategies) matrix at once. The fourth depends on the positions actually held at the
previous bar, which depend on whether it bound before: it is path dependent. It rarely binds, so it
is solved in chunks: the unconstrained path is exact up to the first bar where the cap binds; from
there the recursion runs bar by bar (vectorised over strategies) only until the positions have
caught up with their targets, and the vectorised search resumes. The Python work is proportional to
the number of bars spent catching up, not to bars x strategies.

Weights are signed fractions of capital. Layers are coded 1 strategy, 2 symbol, 3 portfolio,
4 new exposure; 0 means no cap bound.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from python_udfs.backtest_config import RiskLimits

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LAYER_NAMES = {0: None, 1: "strategy", 2: "symbol", 3: "portfolio", 4: "new_exposure"}
_TOLERANCE = 1e-12
CHANGE_BLOCK_BARS = 8192
"""Bars per block when looking for changes of weight (the comparison mask stays in the CPU cache)."""


class CappedTargets(NamedTuple):
    """Targets after the strategy, symbol and portfolio caps, with each layer's scale factor."""

    weights: FloatArray        # (bars, strategies)
    strategy_scale: FloatArray  # (strategies,)
    symbol_scale: FloatArray    # (bars, symbols)
    portfolio_scale: FloatArray  # (bars,)


class Positions(NamedTuple):
    """Positions after the new-exposure cap, with its scale factor per bar (1 when it did not bind),
    the number of bars solved one at a time, the cells it held below their target (only at those
    bars) and where the positions change (`weight_changes`, found once for the costs)."""

    weights: FloatArray
    new_exposure_scale: FloatArray
    sequential_bars: int
    cut: npt.NDArray[np.bool_]
    moved: tuple[IntArray, IntArray]


def symbol_matrix(symbol_of: IntArray, n_symbols: int) -> FloatArray:
    """(strategies x symbols) one-hot matrix: weights @ it sums the strategies of each symbol."""
    onehot = np.zeros((symbol_of.size, n_symbols))
    onehot[np.arange(symbol_of.size), symbol_of] = 1.0
    return onehot


class Runs(NamedTuple):
    """The runs of bars [first, last] over which a column's target is non-zero (every non-zero cell
    in one run), when the caller knows them: they bound each bar's exposure without a scan."""

    column: IntArray
    first: IntArray
    last: IntArray


def _may_exceed(runs: Runs, largest: FloatArray, columns: npt.NDArray[np.bool_], n_bars: int, limit: float) -> bool:
    """Whether the sum of |weight| of `columns` can pass `limit` at some bar: the per-bar sum of their
    largest |weight| over their runs bounds it (with slack for the rounding of that running sum and
    of the layer's own sums)."""
    pick = columns[runs.column]
    weight = largest[runs.column[pick]]
    marks = np.bincount(runs.first[pick], weights=weight, minlength=n_bars + 1)
    marks -= np.bincount(runs.last[pick] + 1, weights=weight, minlength=n_bars + 1)
    total = np.cumsum(marks[:n_bars])
    slack = 4.0 * (2 * weight.size + n_bars + 1) * np.finfo(np.float64).eps * 2 * float(weight.sum())
    return bool(total.size) and (float(total.max()) + slack) * (1 + 1e-9) > limit * (1 + _TOLERANCE)


def _scale_rows(weights: FloatArray, rows: IntArray, factors: FloatArray, owned: bool) -> FloatArray:
    """`weights[rows] *= factors` (one row of factors per bar of `rows`): a factor of 1 changes nothing,
    so only the bars where a layer binds are touched; a copy first unless the array is ours to edit."""
    if rows.size == 0:
        return weights
    out = weights if owned else weights.copy()
    out[rows] *= factors
    return out


def cap_targets(targets: FloatArray, symbol_of: IntArray, n_symbols: int, limits: RiskLimits,
                in_place: bool = False, nominal: FloatArray | None = None, runs: Runs | None = None) -> CappedTargets:
    """Layers 1 to 3, for every bar at once; each layer scales all the weights it covers by one
    factor, so the caps never flip a sign or change the ratio between strategies of one symbol. A
    layer that cannot bind (the largest exposure it could see is within its limit) is skipped, and a
    layer scales only the bars where it binds. `in_place`: the caller hands `targets` over (one
    matrix per pass instead of one per layer); otherwise the result may share it when nothing binds.
    `nominal` (max |target| per column) and `runs` (where targets are non-zero), when the caller
    knows them, save scans of the matrix."""
    n_bars = targets.shape[0]
    if nominal is None:
        nominal = np.maximum(np.abs(targets.max(axis=0)), np.abs(targets.min(axis=0))) if targets.size else \
            np.zeros(targets.shape[1])
    strategy_scale = np.where(nominal > limits.strategy_max_weight,
                              limits.strategy_max_weight / np.where(nominal > 0, nominal, 1.0), 1.0)
    weights, owned = targets, in_place
    if np.any(strategy_scale < 1):
        weights = np.multiply(targets, strategy_scale, out=targets if in_place else None)
        owned = True
    largest = nominal * strategy_scale
    symbol_scale = np.ones((n_bars, n_symbols))
    most_per_symbol = np.bincount(symbol_of, weights=largest, minlength=n_symbols)
    onehot = symbol_matrix(symbol_of, n_symbols)
    net = None
    crowded = most_per_symbol > limits.symbol_max_net_weight * (1 + _TOLERANCE)
    if np.any(crowded) and (runs is None or any(
            _may_exceed(runs, largest, symbol_of == j, n_bars, limits.symbol_max_net_weight)
            for j in np.flatnonzero(crowded))):
        net = np.abs(weights @ onehot)
        symbol_scale = np.where(net > limits.symbol_max_net_weight * (1 + _TOLERANCE),
                                limits.symbol_max_net_weight / np.where(net > 0, net, 1.0), 1.0)
        rows = np.flatnonzero((symbol_scale != 1).any(axis=1))
        weights = _scale_rows(weights, rows, symbol_scale[rows][:, symbol_of], owned)
        owned = owned or rows.size > 0
    portfolio_scale = np.ones(n_bars)
    if most_per_symbol.sum() > limits.portfolio_max_gross_weight * (1 + _TOLERANCE) and (runs is None or _may_exceed(
            runs, largest, np.ones(symbol_of.size, dtype=bool), n_bars, limits.portfolio_max_gross_weight)):
        net = np.abs(weights @ onehot) if net is None else net * symbol_scale
        gross = net.sum(axis=1)
        portfolio_scale = np.where(gross > limits.portfolio_max_gross_weight * (1 + _TOLERANCE),
                                   limits.portfolio_max_gross_weight / np.where(gross > 0, gross, 1.0), 1.0)
        rows = np.flatnonzero(portfolio_scale != 1)
        weights = _scale_rows(weights, rows, portfolio_scale[rows, None], owned)
    return CappedTargets(weights, strategy_scale, symbol_scale, portfolio_scale)


def _increase(target: FloatArray, previous: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Exposure a move from `previous` to `target` adds: the growth of |weight| on the same side,
    all of |target| when the side flips. Reductions add nothing and are never capped."""
    same_side = (np.sign(target) == np.sign(previous)) | (previous == 0)
    return np.where(same_side, np.maximum(np.abs(target) - np.abs(previous), 0.0), np.abs(target)), same_side


def _step(target: FloatArray, previous: FloatArray, tradable: npt.NDArray[np.bool_],
          limit: float) -> tuple[FloatArray, float]:
    """One bar of the new-exposure cap: scale every increase by one factor so they sum to the limit;
    a strategy whose symbol cannot trade at this bar keeps its position."""
    increase, same_side = _increase(target, previous)
    increase = np.where(tradable, increase, 0.0)
    total = float(increase.sum())
    scale = 1.0 if total <= limit * (1 + _TOLERANCE) else limit / total
    grown = np.where(same_side, previous, 0.0) + np.sign(target) * scale * increase
    moved = np.where(increase > 0, grown, target)
    return np.where(tradable, moved, previous), scale


def weight_changes(weights: FloatArray, initial: FloatArray | None = None) -> tuple[IntArray, IntArray]:
    """(bar, column) of every cell whose weight differs from the bar before (the first bar against
    `initial`, the weights held before it; default flat), in row-major order. Compared in blocks of
    bars, so the mask stays in the CPU cache; the flat positions of a mask are several times faster
    to find than its 2-D indices."""
    n_bars, n_columns = weights.shape
    held = np.zeros((1, n_columns)) if initial is None else initial[None, :]
    found = []
    for start in range(0, n_bars, CHANGE_BLOCK_BARS):
        stop = min(start + CHANGE_BLOCK_BARS, n_bars)
        before = weights[start - 1:stop - 1] if start > 0 else np.vstack([held, weights[:stop - 1]])
        found.append(np.flatnonzero(weights[start:stop] != before) + start * n_columns)
    flat = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    bar, column = np.divmod(flat, max(n_columns, 1))
    return bar, column


def _changes_at(weights: FloatArray, rows: IntArray, initial: FloatArray) -> tuple[IntArray, IntArray]:
    """weight_changes restricted to the bars `rows` (sorted, unique)."""
    before = np.where((rows > 0)[:, None], weights[np.maximum(rows - 1, 0)], initial[None, :])
    local, column = np.nonzero(weights[rows] != before)
    return rows[local], column


def limit_new_exposure(targets: FloatArray, tradable: npt.NDArray[np.bool_], symbol_of: IntArray, limit: float,
                       in_place: bool = False, initial: FloatArray | None = None,
                       catching_up: bool = False) -> Positions:
    """Layer 4 (see the module docstring for the chunked solution). `targets` (bars x columns) must
    already hold still where column j's symbol `symbol_of[j]` cannot trade (`tradable`: bars x
    symbols). `in_place`: the caller hands `targets` over and gets the positions in the same array
    (the bars solved one at a time are few, so their targets are kept aside). `initial`: the
    positions held before the first bar (default flat), and `catching_up`: they were below their
    targets (a cut still being caught up, so the first bar is solved one at a time)."""
    n_bars, n_columns = targets.shape
    held_before = np.zeros(n_columns) if initial is None else initial
    positions = targets if in_place else targets.copy()
    scale = np.ones(n_bars)
    cut = np.zeros(targets.shape, dtype=bool)
    # the increases of the unconstrained path, computed only where a weight changes
    bar, column = weight_changes(targets, held_before)
    previous = np.where(bar > 0, targets[np.maximum(bar - 1, 0), column], held_before[column])
    increase = np.where(tradable[bar, symbol_of[column]], _increase(targets[bar, column], previous)[0], 0.0)
    free_increase = np.bincount(bar, weights=increase, minlength=n_bars)
    violations = np.flatnonzero(free_increase > limit * (1 + _TOLERANCE))
    if catching_up and n_bars and (violations.size == 0 or violations[0] != 0):
        violations = np.concatenate([[0], violations])
    sequential = 0
    cursor = 0
    solved: list[int] = []
    while True:
        pending = violations[np.searchsorted(violations, cursor):]
        if pending.size == 0:
            break
        row = int(pending[0])
        held = positions[row - 1] if row > 0 else held_before
        while row < n_bars:
            target = targets[row].copy()
            held, scale[row] = _step(target, held, tradable[row, symbol_of], limit)
            positions[row] = held
            cut[row] = np.abs(held) < np.abs(target) - 1e-15
            solved.append(row)
            sequential += 1
            if np.array_equal(held, target):
                break
            row += 1
        cursor = row + 1
    if solved:
        bar, column = _merge_changes(positions, bar, column, np.asarray(solved, dtype=np.int64), held_before)
    return Positions(positions, scale, sequential, cut, (bar, column))


def _merge_changes(positions: FloatArray, bar: IntArray, column: IntArray,
                   solved: IntArray, initial: FloatArray) -> tuple[IntArray, IntArray]:
    """The changes of the targets, redone at the bars solved one at a time and the bars after them."""
    redo = np.union1d(solved, solved + 1)
    redo = redo[redo < positions.shape[0]]
    # np.isin(bar, redo), by binary search in the sorted `redo` (several times faster on many changes)
    keep = redo[np.minimum(np.searchsorted(redo, bar), redo.size - 1)] != bar
    new_bar, new_column = _changes_at(positions, redo, initial)
    bar, column = np.concatenate([bar[keep], new_bar]), np.concatenate([column[keep], new_column])
    order = np.lexsort((column, bar))
    return bar[order], column[order]


def binding_layers(targets: FloatArray, capped: CappedTargets, new_exposure_scale: FloatArray,
                   symbol_of: IntArray, scaled_by_new_exposure: npt.NDArray[np.bool_]) -> npt.NDArray[np.int8]:
    """(bars x strategies) code of the layer that cut each target most (0: none bound; on a tie the
    earlier layer). Only the bars where some layer scaled something are looked at."""
    n_bars, n_strategies = targets.shape
    layers = np.zeros((n_bars, n_strategies), dtype=np.int8)
    strategy_bound = capped.strategy_scale < 1 - _TOLERANCE
    rows = np.arange(n_bars) if strategy_bound.any() else np.flatnonzero(
        (capped.symbol_scale < 1 - _TOLERANCE).any(axis=1) | (capped.portfolio_scale < 1 - _TOLERANCE)
        | (new_exposure_scale < 1 - _TOLERANCE))
    if rows.size == 0:
        return layers
    # The layer that cut most is the earliest whose factor is the smallest. Layers 2 and 3 are shared
    # by a symbol's strategies, so they are compared per bar and symbol before being spread to the
    # strategies; the new-exposure factor applies only to the few cells it cut.
    symbol_scale = capped.symbol_scale[rows]
    portfolio_scale = capped.portfolio_scale[rows, None]
    shared_code = np.where(symbol_scale <= portfolio_scale, np.int8(2), np.int8(3))
    best = np.take(np.minimum(symbol_scale, portfolio_scale), symbol_of, axis=1)
    code = np.take(shared_code, symbol_of, axis=1)
    strategy_wins = capped.strategy_scale[None, :] <= best
    np.minimum(best, capped.strategy_scale[None, :], out=best)
    code[strategy_wins] = 1
    row, column = np.nonzero(scaled_by_new_exposure[rows])
    factor = new_exposure_scale[rows[row]]
    tighter = factor < best[row, column]
    best[row[tighter], column[tighter]] = factor[tighter]
    code[row[tighter], column[tighter]] = 4
    bound = (best < 1 - _TOLERANCE) & (targets[rows] != 0)
    layers[rows] = np.where(bound, code, np.int8(0))
    return layers
