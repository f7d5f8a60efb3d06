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


class CappedTargets(NamedTuple):
    """Targets after the strategy, symbol and portfolio caps, with each layer's scale factor."""

    weights: FloatArray        # (bars, strategies)
    strategy_scale: FloatArray  # (strategies,)
    symbol_scale: FloatArray    # (bars, symbols)
    portfolio_scale: FloatArray  # (bars,)


class Positions(NamedTuple):
    """Positions after the new-exposure cap, with its scale factor per bar (1 when it did not bind)
    and the number of bars solved one at a time."""

    weights: FloatArray
    new_exposure_scale: FloatArray
    sequential_bars: int


def symbol_matrix(symbol_of: IntArray, n_symbols: int) -> FloatArray:
    """(strategies x symbols) one-hot matrix: weights @ it sums the strategies of each symbol."""
    onehot = np.zeros((symbol_of.size, n_symbols))
    onehot[np.arange(symbol_of.size), symbol_of] = 1.0
    return onehot


def cap_targets(targets: FloatArray, symbol_of: IntArray, n_symbols: int, limits: RiskLimits) -> CappedTargets:
    """Layers 1 to 3, for every bar at once; each layer scales all the weights it covers by one
    factor, so the caps never flip a sign or change the ratio between strategies of one symbol. A
    layer that cannot bind (the largest exposure it could see is within its limit) is skipped."""
    n_bars = targets.shape[0]
    nominal = np.abs(targets).max(axis=0) if targets.size else np.zeros(targets.shape[1])
    strategy_scale = np.where(nominal > limits.strategy_max_weight,
                              limits.strategy_max_weight / np.where(nominal > 0, nominal, 1.0), 1.0)
    weights = targets * strategy_scale if np.any(strategy_scale < 1) else targets
    largest = nominal * strategy_scale
    symbol_scale = np.ones((n_bars, n_symbols))
    most_per_symbol = np.bincount(symbol_of, weights=largest, minlength=n_symbols)
    onehot = symbol_matrix(symbol_of, n_symbols)
    net = None
    if np.any(most_per_symbol > limits.symbol_max_net_weight * (1 + _TOLERANCE)):
        net = np.abs(weights @ onehot)
        symbol_scale = np.where(net > limits.symbol_max_net_weight * (1 + _TOLERANCE),
                                limits.symbol_max_net_weight / np.where(net > 0, net, 1.0), 1.0)
        weights = weights * symbol_scale[:, symbol_of]
    portfolio_scale = np.ones(n_bars)
    if most_per_symbol.sum() > limits.portfolio_max_gross_weight * (1 + _TOLERANCE):
        net = np.abs(weights @ onehot) if net is None else net * symbol_scale
        gross = net.sum(axis=1)
        portfolio_scale = np.where(gross > limits.portfolio_max_gross_weight * (1 + _TOLERANCE),
                                   limits.portfolio_max_gross_weight / np.where(gross > 0, gross, 1.0), 1.0)
        weights = weights * portfolio_scale[:, None]
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


def limit_new_exposure(targets: FloatArray, tradable: npt.NDArray[np.bool_], limit: float) -> Positions:
    """Layer 4 (see the module docstring for the chunked solution). `targets` must already hold
    still where `tradable` is False (a frozen symbol keeps its target)."""
    n_bars = targets.shape[0]
    positions = targets.copy()
    scale = np.ones(n_bars)
    if n_bars == 0:
        return Positions(positions, scale, 0)
    # the increases of the unconstrained path, computed only where a weight changes
    changes = np.empty(targets.shape, dtype=bool)
    changes[0] = targets[0] != 0
    np.not_equal(targets[1:], targets[:-1], out=changes[1:])
    bar, column = np.nonzero(changes)
    previous = np.where(bar > 0, targets[np.maximum(bar - 1, 0), column], 0.0)
    increase = np.where(tradable[bar, column], _increase(targets[bar, column], previous)[0], 0.0)
    free_increase = np.bincount(bar, weights=increase, minlength=n_bars)
    violations = np.flatnonzero(free_increase > limit * (1 + _TOLERANCE))
    sequential = 0
    cursor = 0
    while True:
        pending = violations[np.searchsorted(violations, cursor):]
        if pending.size == 0:
            break
        bar = int(pending[0])
        held = positions[bar - 1] if bar > 0 else np.zeros(targets.shape[1])
        while bar < n_bars:
            held, scale[bar] = _step(targets[bar], held, tradable[bar], limit)
            positions[bar] = held
            sequential += 1
            if np.array_equal(held, targets[bar]):
                break
            bar += 1
        cursor = bar + 1
    return Positions(positions, scale, sequential)


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
    best = np.broadcast_to(capped.strategy_scale[None, :], (rows.size, n_strategies)).copy()
    code = np.where(strategy_bound[None, :], 1, 0).astype(np.int8) * np.ones((rows.size, 1), dtype=np.int8)
    candidates = (capped.symbol_scale[rows][:, symbol_of], np.broadcast_to(capped.portfolio_scale[rows, None], best.shape),
                  np.where(scaled_by_new_exposure[rows], new_exposure_scale[rows, None], 1.0))
    for layer, factor in enumerate(candidates, start=2):
        tighter = factor < best
        best = np.where(tighter, factor, best)
        code = np.where(tighter, np.int8(layer), code)
    bound = (best < 1 - _TOLERANCE) & (targets[rows] != 0)
    layers[rows] = np.where(bound, code, 0)
    return layers
