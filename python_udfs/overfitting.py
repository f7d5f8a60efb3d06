"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, Lopez de Prado & Zhu (2015/2017). Picking the best of N configurations on one
sample inflates its score; CSCV measures how often that in-sample winner is merely average or
worse out of sample. The rows of a T x N return matrix are cut into S contiguous blocks; every way
of choosing S/2 blocks as the training set (the rest is the test set) gives one logit
lambda_c = ln(w / (1 - w)), w = OOS rank of the in-sample winner / (N + 1), and
PBO = share of combinations with lambda_c <= 0.

Conventions (mix them up and the numbers are silently wrong):
- Rows are periods in time order, columns are configurations. When T is not a multiple of S the
  *first* T mod S rows are dropped, so the most recent data is kept.
- The metric is the per-period Sharpe ratio mean / std (ddof=1), NaN returns ignored per column.
  Where it is undefined (fewer than 2 values, or the values are constant) the metric is -inf: such
  a configuration is never the in-sample winner (unless every one is undefined, when the tie rule
  picks column 0) and ranks lowest out of sample. The reported `is_best_in_sample` /
  `oos_of_best` cells show NaN there instead of -inf.
- Ties: the in-sample winner is the lowest column index among equal maxima; out-of-sample ranks
  are average ranks (rank 1 = worst, N = best), so lambda_c = 0 exactly at the median and counts
  as overfit.
- Test-set metrics are the training-set metrics of the complementary combination, and block
  statistics are combined in a fixed block order per cell (not through BLAS, whose summation
  order may depend on a column's position), on a C-ordered copy. Identical columns therefore get
  bit-identical metrics, and the result is exactly invariant to column order.
- Cost is O(C(S, S/2) * (S + N) * N) time and O(C(S, S/2) * N) memory: S = 16 gives 12,870
  combinations; S = 20 already gives 184,756.
"""

from __future__ import annotations

import itertools
import operator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class PboResult(NamedTuple):
    """CSCV outcome; the arrays have one cell per combination, in `cscv_combinations` order."""

    pbo: float
    logits: FloatArray
    is_best_in_sample: FloatArray
    oos_of_best: FloatArray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_combinations: int
    n_strategies: int
    n_blocks: int


def _check_n_blocks(n_blocks: int) -> int:
    """S must be an even integer >= 2 so the training and test sets have equal size."""
    try:
        s = operator.index(n_blocks)
    except TypeError:
        raise ValueError(f"n_blocks must be an integer, got {n_blocks!r}") from None
    if s < 2 or s % 2:
        raise ValueError(f"n_blocks must be an even integer >= 2, got {s}")
    return s


def cscv_combinations(n_blocks: int) -> BoolArray:
    """The C(S, S/2) x S membership matrix: row c is True on the training blocks of combination c.

    Rows follow itertools.combinations(range(S), S/2), so the order is deterministic.
    """
    s = _check_n_blocks(n_blocks)
    chosen = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.intp)
    member = np.zeros((chosen.shape[0], s), dtype=bool)
    member[np.repeat(np.arange(chosen.shape[0]), s // 2), chosen.reshape(-1)] = True
    return member


def _complement_index(member: BoolArray) -> npt.NDArray[np.intp]:
    """Row index of each combination's complement (its test set is another row's training set)."""
    codes = member.astype(np.int64) @ (np.int64(1) << np.arange(member.shape[1], dtype=np.int64))
    full = (np.int64(1) << member.shape[1]) - 1
    order = np.argsort(codes)
    return order[np.searchsorted(codes[order], full ^ codes)]


def _accumulate(member: BoolArray, per_block: FloatArray, ufunc: np.ufunc, start: float) -> FloatArray:
    """ufunc-reduce the per-block rows selected by each combination, block by block.

    Equivalent to `member @ per_block` for np.add, but each cell is reduced in the same block
    order whatever its column position, so equal inputs give bit-equal outputs.
    """
    out = np.full((member.shape[0], per_block.shape[1]), start, dtype=np.float64)
    for b in range(member.shape[1]):
        ufunc(out, per_block[b], out=out, where=member[:, b : b + 1])
    return out


def _training_sharpe(member: BoolArray, values: FloatArray, n_blocks: int) -> FloatArray:
    """Per-period Sharpe of every column on every combination's training set (-inf if undefined).

    Block sums, counts, sums of squares and extremes are computed once (S x N) and combined per
    combination. Columns are centred on their overall mean first so the sum-of-squares variance
    does not cancel catastrophically; the constant-set test uses the exact min == max.
    """
    t, n = values.shape
    valid = ~np.isnan(values)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(counts > 0, np.where(valid, values, 0.0).sum(axis=0) / counts, 0.0)
    centred = np.where(valid, values - centre, 0.0).reshape(n_blocks, t // n_blocks, n)
    shape3 = centred.shape
    raw = values.reshape(shape3)
    mask = valid.reshape(shape3)

    n_train = _accumulate(member, mask.sum(axis=1).astype(np.float64), np.add, 0.0)
    s_train = _accumulate(member, centred.sum(axis=1), np.add, 0.0)
    q_train = _accumulate(member, (centred * centred).sum(axis=1), np.add, 0.0)
    hi = _accumulate(member, np.where(mask, raw, -np.inf).max(axis=1), np.maximum, -np.inf)
    lo = _accumulate(member, np.where(mask, raw, np.inf).min(axis=1), np.minimum, np.inf)

    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s_train / n_train + centre
        var = (q_train - s_train * s_train / n_train) / (n_train - 1.0)
        sharpe = mean / np.sqrt(var)
    defined = (n_train >= 2) & (hi > lo) & (var > 0)
    return np.where(defined, sharpe, -np.inf)


def _ols(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Slope and intercept of y on x over the finite pairs; NaN when x does not vary."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2:
        return float("nan"), float("nan")
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return float("nan"), float("nan")
    slope = float(dx @ (y - y.mean())) / sxx
    return slope, float(y.mean()) - slope * float(x.mean())


def probability_of_backtest_overfitting(returns: npt.ArrayLike, n_blocks: int = 16) -> PboResult:
    """PBO of choosing the best in-sample Sharpe among the columns of a T x N return matrix.

    Also returns the logits, the winner's in-sample and out-of-sample Sharpe per combination,
    the performance degradation (OLS of OOS on in-sample Sharpe of the winner) and the
    probability of an out-of-sample loss (share of combinations with OOS Sharpe < 0, among those
    where it is defined; NaN if none). Raises ValueError on unusable shapes or arguments.
    """
    s = _check_n_blocks(n_blocks)
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"returns must be a 2-D T x N matrix, got {m.ndim} dimension(s)")
    t, n = m.shape
    if n < 2:
        raise ValueError(f"returns needs at least 2 strategy columns (N >= 2), got N = {n}")
    if t < 2 * s:
        raise ValueError(f"returns needs T >= 2 * n_blocks = {2 * s} rows (2 per block), got T = {t}")
    if np.isinf(m).any():
        raise ValueError("returns must be finite or NaN; got an infinite value")

    # Drop the oldest rows so the blocks are equal and the latest data is kept. C order makes the
    # column reductions run row by row, so a column's sums do not depend on the memory layout.
    m = np.ascontiguousarray(m[t % s :])
    member = cscv_combinations(s)
    in_sample = _training_sharpe(member, m, s)
    out_of_sample = in_sample[_complement_index(member)]

    rows = np.arange(member.shape[0])
    best = np.argmax(in_sample, axis=1)  # first maximum: lowest column index on ties
    oos_best = out_of_sample[rows, best]
    below = (out_of_sample < oos_best[:, None]).sum(axis=1)
    equal = (out_of_sample == oos_best[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2.0  # average rank, 1 = worst
    logits = np.log(rank / (n + 1.0 - rank))

    is_best = np.where(np.isfinite(in_sample[rows, best]), in_sample[rows, best], np.nan)
    oos_of_best = np.where(np.isfinite(oos_best), oos_best, np.nan)
    slope, intercept = _ols(is_best, oos_of_best)
    defined = ~np.isnan(oos_of_best)
    prob_loss = float(np.mean(oos_of_best[defined] < 0.0)) if defined.any() else float("nan")

    return PboResult(
        pbo=float(np.mean(2.0 * rank <= n + 1.0)),  # lambda <= 0 without rounding through the log
        logits=logits,
        is_best_in_sample=is_best,
        oos_of_best=oos_of_best,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=prob_loss,
        n_combinations=int(member.shape[0]),
        n_strategies=int(n),
        n_blocks=s,
    )

