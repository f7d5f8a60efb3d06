"""The alpha bundle's numbers on (bars x symbols) grids: orthogonalisation, factor returns,
combination and target weights. Pure numpy; the dbt Python models in models/intermediate/alpha/
only convert tables to grids and back (python_udfs/alpha_tables.py).

Point in time, everywhere: a value at bar t uses rows of bars <= t only.
- Orthogonalisation: OLS over the (symbol, bar) rows of the estimation window ending at t (the last
  `window` bars, or every bar so far), solved from running sums of cross-products, so the cost is
  linear in bars x symbols (no regression per bar over a window copy).
- A factor return at t is the return over bar t of the book formed at the close of t - 1.
- Inverse-volatility weights at t use factor returns up to t.
- A weight decided at t is held from t + 1 at the earliest (the engine checks it).
Unknown stays unknown: NaN in, NaN out; a symbol without a value is left out of every
cross-section (never treated as 0); 0 means a known, flat view (a regime filter, an empty book).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

RIDGE = 1e-10
"""Added to the diagonal of every normal-equation matrix, relative to that diagonal: collinear
regressors (a factor equal to the intercept over the window, two identical signals) still give a
solution, close to the minimum-norm one; the residuals stay orthogonal to the regressors to about
RIDGE relative to the cross-products."""


def cross_section_scores(values: FloatArray, transform: str, min_symbols: int) -> tuple[FloatArray, IntArray]:
    """(T x N) scores of one signal per bar among the symbols with a value, and how many have one (T,).

    xs_rank: (#below - #above) / (n - 1), in [-1, 1] (a tie sits at its average rank); xs_zscore:
    (x - mean) / sample std (0 when the values are all equal); time_series: the value itself. A
    symbol without a value is left out (NaN score, not counted, never ranked as 0); the
    cross-sectional transforms are NaN when fewer than min_symbols symbols have a value."""
    known = np.isfinite(values)
    count = known.sum(axis=1)
    if transform == "time_series":
        return np.where(known, values, np.nan), count.astype(np.int64)
    enough = (count >= max(min_symbols, 2))[:, None] & known
    if transform == "xs_zscore":
        mean = np.where(known, values, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)[:, None]
        deviation = np.where(known, values - mean, 0.0)
        std = np.sqrt((deviation ** 2).sum(axis=1, keepdims=True) / np.maximum(count - 1, 1)[:, None])
        score = np.where(std > 0, deviation / np.where(std > 0, std, 1.0), 0.0)
        return np.where(enough, score, np.nan), count.astype(np.int64)
    if transform != "xs_rank":
        raise ValueError(f"unknown transform {transform!r} (xs_rank, xs_zscore, time_series)")
    # Sort each bar's values (unknown ones last), find each run of equal values: the symbols below
    # a value are the run's first position, those above are the known ones after the run's end.
    n_bars, n_symbols = values.shape
    order = np.argsort(np.where(known, values, np.inf), axis=1, kind="stable")
    ordered = np.take_along_axis(np.where(known, values, np.nan), order, axis=1)
    position = np.broadcast_to(np.arange(n_symbols), (n_bars, n_symbols))
    starts = np.ones((n_bars, n_symbols), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    ends = np.ones((n_bars, n_symbols), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, position, n_symbols), axis=1), axis=1), axis=1)
    below_sorted = first
    above_sorted = count[:, None] - 1 - last
    below = np.empty((n_bars, n_symbols), dtype=np.int64)
    above = np.empty((n_bars, n_symbols), dtype=np.int64)
    np.put_along_axis(below, order, below_sorted, axis=1)
    np.put_along_axis(above, order, above_sorted, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (below - above) / (count[:, None] - 1)
    return np.where(enough, score, np.nan), count.astype(np.int64)


def rolling_total(values: npt.NDArray[np.float64] | npt.NDArray[np.int64], window: int | None) -> npt.NDArray:
    """Sum over the rows t - window + 1 .. t along the first axis (every row so far when window is
    None), from one running sum."""
    total = np.cumsum(values, axis=0)
    if window is None or window >= total.shape[0]:
        return total
    out = total.copy()
    out[window:] -= total[:-window]
    return out


def solve_normal_equations(gram: FloatArray, rhs: FloatArray, ridge: float = RIDGE) -> FloatArray:
    """Solutions b of (gram + ridge diag(gram)) b = rhs for a stack of symmetric positive
    semi-definite matrices (M x K x K, M x K), in one batched LAPACK call."""
    if gram.shape[0] == 0:
        return np.zeros(rhs.shape)
    diagonal = np.einsum("mkk->mk", gram)
    floor = np.maximum(diagonal.max(axis=1, keepdims=True), 1.0) * 1e-300
    regularised = gram + np.einsum("mk,kl->mkl", ridge * diagonal + floor, np.eye(gram.shape[1]))
    return np.linalg.solve(regularised, rhs[..., None])[..., 0]


class Fit(NamedTuple):
    """A rolling regression: the residual of each row (NaN when the row is incomplete or the window
    too thin), the complete rows in each bar's window and each bar's coefficients."""

    residual: FloatArray   # (T, N)
    n_obs: IntArray        # (T,)
    coef: FloatArray       # (T, K)


def rolling_ols(y: FloatArray, x: FloatArray, window: int | None, min_obs: int) -> Fit:
    """Regress y (T x N) on the K regressors x (T x N x K) pooled over the rows (bar, symbol) of the
    bars t - window + 1 .. t (every bar so far when window is None) that have y and every regressor;
    the residual at t is y[t] - x[t] b[t]. Within the window, the residuals y[u] - x[u] b[t] are
    orthogonal to every regressor (the normal equations), and nothing after t is read."""
    n_bars, n_symbols, k = x.shape
    valid = np.isfinite(y) & np.isfinite(x).all(axis=2)
    n_obs = rolling_total(valid.sum(axis=1).astype(np.int64), window)
    if k == 0:
        return Fit(np.where(valid, y, np.nan), n_obs, np.zeros((n_bars, 0)))
    xv = np.where(valid[..., None], x, 0.0)
    yv = np.where(valid, y, 0.0)
    xt = xv.transpose(0, 2, 1)
    gram = rolling_total(np.matmul(xt, xv), window)                  # per bar: sum over symbols of x x'
    moment = rolling_total(np.matmul(xt, yv[..., None])[..., 0], window)
    ready = n_obs >= min_obs
    coef = np.full((n_bars, k), np.nan)
    coef[ready] = solve_normal_equations(gram[ready], moment[ready])
    fitted = np.matmul(xv, np.nan_to_num(coef)[..., None])[..., 0]
    return Fit(np.where(valid & ready[:, None], y - fitted, np.nan), n_obs, coef)


def regressors(scores: FloatArray, factors: FloatArray, index: int, intercept: bool, method: str) -> FloatArray:
    """The (T x N x K) regressors of signal `index`: an intercept, the factor exposures, and the
    other signals' scores (sequential: those before it; symmetric: all others)."""
    n_signals, n_bars, n_symbols = scores.shape
    columns = [np.ones((n_bars, n_symbols))] if intercept else []
    columns += list(factors)
    others = range(index) if method == "sequential" else (j for j in range(n_signals) if j != index)
    columns += [scores[j] for j in others]
    return np.stack(columns, axis=2) if columns else np.zeros((n_bars, n_symbols, 0))


def orthogonalise(scores: FloatArray, factors: FloatArray, *, intercept: bool, method: str, window: int | None,
                  min_obs: int) -> tuple[FloatArray, IntArray]:
    """Residuals (S x T x N) of every signal's scores on its regressors (see `regressors`), and the
    complete rows behind each signal's fit at each bar (S x T)."""
    residuals = np.full(scores.shape, np.nan)
    n_obs = np.zeros(scores.shape[:2], dtype=np.int64)
    for index in range(scores.shape[0]):
        fit = rolling_ols(scores[index], regressors(scores, factors, index, intercept, method), window, min_obs)
        residuals[index], n_obs[index] = fit.residual, fit.n_obs
    return residuals, n_obs


def gate(residuals: FloatArray, regime_on: BoolArray) -> FloatArray:
    """The traded signal: the residual where the regime filters leave the signal on, 0 (a known, flat
    view) where they switch it off, NaN where the residual is unknown."""
    return np.where(np.isnan(residuals), np.nan, np.where(regime_on, residuals, 0.0))


# --------------------------------------------------------------------------------------------------
# Books and factor returns
# --------------------------------------------------------------------------------------------------

def dollar_neutral(values: FloatArray, min_symbols: int) -> FloatArray:
    """Per row of the last axis: the values minus their mean over the symbols with a value, scaled to
    a sum of |weights| of 1 (0 for the others); all 0 when the row's values are equal; NaN (no book)
    when fewer than min_symbols symbols have a value."""
    known = np.isfinite(values)
    count = known.sum(axis=-1, keepdims=True)
    mean = np.where(known, values, 0.0).sum(axis=-1, keepdims=True) / np.maximum(count, 1)
    centred = np.where(known, values - mean, 0.0)
    gross = np.abs(centred).sum(axis=-1, keepdims=True)
    weights = np.where(gross > 0, centred / np.where(gross > 0, gross, 1.0), 0.0)
    return np.where(count >= min_symbols, weights, np.nan)


def factor_returns(values: FloatArray, returns: FloatArray, min_symbols: int) -> FloatArray:
    """(S x T) return over bar t of each signal's dollar-neutral, unit-gross book formed at the close
    of t - 1 (`dollar_neutral`). NaN at t = 0, when no book could be formed at t - 1, or when a symbol
    the book holds has no return at t (a gap); 0 when the book is flat."""
    books = dollar_neutral(values, min_symbols)
    out = np.full(values.shape[:2], np.nan)
    held = books[:, :-1, :]
    bar_returns = returns[None, 1:, :]
    unknown = (held != 0) & ~np.isfinite(bar_returns)
    pnl = np.where(held != 0, held * np.where(np.isfinite(bar_returns), bar_returns, 0.0), 0.0).sum(axis=2)
    out[:, 1:] = np.where(np.isnan(held).any(axis=2) | unknown.any(axis=2), np.nan, pnl)
    return out


def rolling_volatility(series: FloatArray, window: int, min_obs: int) -> FloatArray:
    """(S x T) sample standard deviation of the known values among the last `window` bars up to t;
    NaN with fewer than min_obs known values."""
    known = np.isfinite(series)
    x = np.where(known, series, 0.0).T
    count = rolling_total(known.T.astype(np.int64), window)
    total = rolling_total(x, window)
    squares = rolling_total(x * x, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (squares - total * total / count) / (count - 1)
    return np.where(count >= max(min_obs, 2), np.sqrt(np.maximum(variance, 0.0)), np.nan).T


def combination_weights(base: FloatArray, volatility: FloatArray | None) -> FloatArray:
    """(S x T) weight of each signal at each bar: its spec weight (times 1 / volatility when given),
    normalised to a sum of |weights| of 1 over the signals that have one at the bar (NaN: none)."""
    n_bars = volatility.shape[1] if volatility is not None else 1
    raw = np.broadcast_to(base[:, None], (base.size, n_bars)).astype(np.float64)
    if volatility is not None:
        usable = np.isfinite(volatility) & (volatility > 0)
        raw = np.where(usable, raw / np.where(usable, volatility, 1.0), np.nan)
    total = np.nansum(np.abs(raw), axis=0, keepdims=True)
    return np.where(total > 0, raw / np.where(total > 0, total, 1.0), np.nan)


def combine(values: FloatArray, weights: FloatArray) -> FloatArray:
    """(T x N) combined score: the sum over signals of weight x value, over the signals with both at
    the bar (a signal unknown for one symbol adds nothing for it); NaN when no signal has both."""
    weights = np.broadcast_to(weights[:, :, None] if weights.ndim == 2 else weights, values.shape)
    usable = np.isfinite(values) & np.isfinite(weights)
    total = np.where(usable, values * weights, 0.0).sum(axis=0)
    return np.where(usable.any(axis=0), total, np.nan)


def book_weights(combined: FloatArray, variant: str, gross: float, max_symbol_weight: float,
                 min_symbols: int) -> FloatArray:
    """(T x N) weights the book would take at each bar from the combined scores. dollar_neutral: the
    score minus its mean over the symbols with one, scaled to `gross` (sum of |weights|);
    long_only: its positive part, scaled to `gross`. A symbol without a score gets 0; the whole row
    is 0 (flat) with fewer than min_symbols scores, equal scores (dollar_neutral) or nothing
    positive (long_only). A weight over max_symbol_weight scales the row down (its shape is kept)."""
    known = np.isfinite(combined)
    count = known.sum(axis=1, keepdims=True)
    if variant == "dollar_neutral":
        mean = np.where(known, combined, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
        raw = np.where(known, combined - mean, 0.0)
    elif variant == "long_only":
        raw = np.where(known, np.maximum(combined, 0.0), 0.0)
    else:
        raise ValueError(f"unknown portfolio variant {variant!r} (dollar_neutral, long_only)")
    total = np.abs(raw).sum(axis=1, keepdims=True)
    weights = np.where((total > 0) & (count >= min_symbols), raw * gross / np.where(total > 0, total, 1.0), 0.0)
    largest = np.abs(weights).max(axis=1, keepdims=True) if weights.size else np.zeros((weights.shape[0], 1))
    return weights * np.where(largest > max_symbol_weight, max_symbol_weight / np.where(largest > 0, largest, 1.0), 1.0)


def rebalance_bars(bar_index: IntArray, every: int) -> BoolArray:
    """Decision bars: the last bar of every block of `every` bars of the UTC grid (bar index =
    epoch / bar length), so a decision at its close acts from the top of the next block."""
    return (bar_index % every) == every - 1


def hold_decisions(book: FloatArray, decision: BoolArray) -> tuple[FloatArray, IntArray]:
    """The weights in force after each bar's close: the latest decision's row (0 before the first),
    and the index of that decision (-1 before the first)."""
    latest = np.maximum.accumulate(np.where(decision, np.arange(decision.size), -1))
    held = np.where((latest >= 0)[:, None], book[np.maximum(latest, 0)], 0.0)
    return held, latest.astype(np.int64)
