"""Probabilistic and Deflated Sharpe ratios (Bailey & Lopez de Prado 2012, 2014).

A backtest Sharpe ratio is an estimate: short samples, negative skew and fat tails widen its
error, and picking the best of N trials inflates it. PSR is the probability that the true Sharpe
exceeds a benchmark given the estimation error; DSR is PSR against the Sharpe expected from the
best of N null trials.

Conventions (mix them up and the numbers are silently wrong):
- Sharpe ratios are per period (not annualised), on the same periods as `n_obs`.
- `kurtosis` is the non-excess kurtosis (3 for a normal law); `skew` the usual third moment ratio.
- Functions broadcast over numpy arrays; undefined cells (n_obs <= 1, a non-positive variance
  term) are NaN rather than raising, so they can feed SQL UDFs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
"""Euler-Mascheroni constant, used by the expected-maximum approximation."""


def _result(values: FloatArray) -> FloatArray:
    """Return 0-d results as a numpy float scalar (float subclass) and arrays unchanged."""
    return values[()] if values.ndim == 0 else values


class SharpeStats(NamedTuple):
    """Per-period Sharpe ratio with the moments PSR needs."""

    sr: float
    skew: float
    kurtosis: float
    n_obs: int


def sharpe_stats(returns: npt.ArrayLike) -> SharpeStats:
    """SR = mean / std (ddof=1); skew and non-excess kurtosis as plain sample moment ratios
    (biased, as in the papers). NaN returns are dropped. Undefined pieces are NaN."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    r = r[~np.isnan(r)]
    n = int(r.size)
    if n < 2:
        return SharpeStats(float("nan"), float("nan"), float("nan"), n)
    sd = float(r.std(ddof=1))
    if sd == 0.0 or np.ptp(r) == 0.0:
        return SharpeStats(float("nan"), float("nan"), float("nan"), n)
    skew = float(stats.skew(r, bias=True))
    kurt = float(stats.kurtosis(r, fisher=False, bias=True))
    return SharpeStats(float(r.mean()) / sd, skew, kurt, n)


def _variance_term(sr: FloatArray, skew: npt.ArrayLike, kurtosis: npt.ArrayLike) -> FloatArray:
    """1 - skew * SR + (kurtosis - 1)/4 * SR^2: the non-normal inflation of Var(SR_hat)."""
    return 1.0 - np.asarray(skew, dtype=np.float64) * sr + (np.asarray(kurtosis, dtype=np.float64) - 1.0) / 4.0 * sr**2


def sharpe_ratio_std(
    sr: npt.ArrayLike, n_obs: npt.ArrayLike, skew: npt.ArrayLike = 0.0, kurtosis: npt.ArrayLike = 3.0
) -> FloatArray:
    """Standard error of SR_hat: sqrt((1 - skew SR + (kurtosis - 1)/4 SR^2) / (n_obs - 1)).

    Negative skew and fat tails widen it, which is the point of PSR. NaN where n_obs <= 1 or the
    variance term is not positive (inconsistent moments).
    """
    sr_arr = np.asarray(sr, dtype=np.float64)
    n = np.asarray(n_obs, dtype=np.float64)
    term = _variance_term(sr_arr, skew, kurtosis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(term / (n - 1.0))
    return _result(np.where((n > 1) & (term > 0), out, np.nan))


def probabilistic_sharpe_ratio(
    sr: npt.ArrayLike,
    n_obs: npt.ArrayLike,
    skew: npt.ArrayLike = 0.0,
    kurtosis: npt.ArrayLike = 3.0,
    sr_benchmark: npt.ArrayLike = 0.0,
) -> FloatArray:
    """PSR(SR*) = Phi((SR_hat - SR*) sqrt(n_obs - 1) / sqrt(1 - skew SR_hat + (kurtosis - 1)/4 SR_hat^2)).

    The probability that the true Sharpe exceeds `sr_benchmark`, all per period.
    """
    se = np.asarray(sharpe_ratio_std(sr, n_obs, skew, kurtosis), dtype=np.float64)
    z = (np.asarray(sr, dtype=np.float64) - np.asarray(sr_benchmark, dtype=np.float64)) / se
    return _result(np.asarray(stats.norm.cdf(z), dtype=np.float64))


def expected_max_sharpe(
    n_trials: npt.ArrayLike, var_trials: npt.ArrayLike, mean_trials: npt.ArrayLike = 0.0
) -> FloatArray:
    """Expected maximum Sharpe of N independent trials whose Sharpes have variance V:

        SR0 = mean + sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))),  g = Euler's gamma.

    The formula is asymptotic and dips below `mean` for N just above 1, where E[max] >= mean must
    hold; the result is floored at `mean` (this binds only for N < ~1.3; N = 1 gives exactly
    `mean`). N may be fractional (an effective number of trials, see `effective_trials`); N < 1
    or V < 0 give NaN.
    """
    n = np.asarray(n_trials, dtype=np.float64)
    v = np.asarray(var_trials, dtype=np.float64)
    mean = np.asarray(mean_trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n * np.e))
        excess = np.sqrt(v) * z
    excess = np.where(n == 1.0, 0.0, np.maximum(excess, 0.0))
    valid = (n >= 1.0) & (v >= 0.0)
    return _result(np.where(valid, mean + excess, np.nan))


def deflated_sharpe_ratio(
    sr: npt.ArrayLike,
    n_obs: npt.ArrayLike,
    n_trials: npt.ArrayLike,
    var_trials: npt.ArrayLike,
    skew: npt.ArrayLike = 0.0,
    kurtosis: npt.ArrayLike = 3.0,
    mean_trials: npt.ArrayLike = 0.0,
) -> FloatArray:
    """DSR = PSR(SR0) with SR0 = expected_max_sharpe(n_trials, var_trials, mean_trials).

    `var_trials` is the variance of the per-period Sharpe ratios across all trials tried;
    a strategy passes at 95% when DSR >= 0.95.
    """
    benchmark = expected_max_sharpe(n_trials, var_trials, mean_trials)
    return probabilistic_sharpe_ratio(sr, n_obs, skew, kurtosis, benchmark)


def min_track_record_length(
    sr: npt.ArrayLike,
    skew: npt.ArrayLike = 0.0,
    kurtosis: npt.ArrayLike = 3.0,
    sr_benchmark: npt.ArrayLike = 0.0,
    alpha: float = 0.05,
) -> FloatArray:
    """MinTRL = 1 + (1 - skew SR + (kurtosis - 1)/4 SR^2) (z_{1-alpha} / (SR - SR*))^2 periods.

    The sample length for which PSR(SR*) would reach 1 - alpha. NaN when SR <= SR* (no length
    suffices) or the variance term is not positive.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    sr_arr = np.asarray(sr, dtype=np.float64)
    gap = sr_arr - np.asarray(sr_benchmark, dtype=np.float64)
    term = _variance_term(sr_arr, skew, kurtosis)
    z = float(stats.norm.ppf(1.0 - alpha))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 + term * (z / gap) ** 2
    return _result(np.where((gap > 0) & (term > 0), out, np.nan))


def effective_trials(n_trials: npt.ArrayLike, mean_correlation: npt.ArrayLike) -> FloatArray:
    """N_eff = rho + (1 - rho) N: correlated trials count as fewer independent ones.

    rho is the average pairwise correlation of the trial return series, in [0, 1]; NaN outside.
    """
    n = np.asarray(n_trials, dtype=np.float64)
    rho = np.asarray(mean_correlation, dtype=np.float64)
    out = rho + (1.0 - rho) * n
    return _result(np.where((rho >= 0) & (rho <= 1) & (n >= 1), out, np.nan))
