"""Newey-West mean test against statsmodels' HAC OLS and a brute-force double sum.

Convention checked: no small-sample factor (statsmodels `use_correction=False`), gamma_j with
divisor n, Student-t p-values with n - 1 df (statsmodels `use_t=True`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from python_udfs.hac import automatic_lag, bartlett_weights, default_lag, hac_mean_test, newey_west_lrv


def _ar1(rng: np.random.Generator, n: int, phi: float, mu: float) -> np.ndarray:
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x + mu


def _overlapping_returns(rng: np.random.Generator, n: int, horizon: int) -> np.ndarray:
    """h-bar forward sums of i.i.d. bar returns, sampled every bar: MA(h-1)."""
    bars = rng.normal(0.01, 1.0, n + horizon - 1)
    return np.convolve(bars, np.ones(horizon), mode="valid")


def _brute_force_lrv(x: np.ndarray, lag: int) -> float:
    """(1/n) sum_t sum_s k(|t-s|) d_t d_s with Bartlett k, zero deviations at NaN positions."""
    ok = ~np.isnan(x)
    d = np.where(ok, x - x[ok].mean(), 0.0)
    idx = np.arange(x.size)
    gap = np.abs(idx[:, None] - idx[None, :])
    kernel = np.clip(1.0 - gap / (lag + 1), 0.0, None)
    return float(d @ kernel @ d) / ok.sum()


SERIES = [
    ("ar1", lambda rng: _ar1(rng, 400, 0.5, 0.1)),
    ("overlap_h12", lambda rng: _overlapping_returns(rng, 600, 12)),
    ("white_small", lambda rng: rng.normal(0.2, 1.0, 25)),
]


@pytest.mark.parametrize(("name", "make"), SERIES)
@pytest.mark.parametrize("lag", [0, 1, 4, 11, 30])
def test_matches_statsmodels_hac_without_correction(name: str, make, lag: int) -> None:
    sm = pytest.importorskip("statsmodels.api")
    x = make(np.random.default_rng(hash(name) % 1000 + lag))
    res = hac_mean_test(x, lag)
    fit = sm.OLS(x, np.ones_like(x)).fit(
        cov_type="HAC", cov_kwds={"maxlags": lag, "kernel": "bartlett", "use_correction": False}, use_t=True
    )
    assert res.n == x.size
    np.testing.assert_allclose(res.mean, fit.params[0], rtol=1e-12)
    np.testing.assert_allclose(res.se, fit.bse[0], rtol=1e-10)
    np.testing.assert_allclose(res.t, fit.tvalues[0], rtol=1e-10)
    np.testing.assert_allclose(res.p_two_sided, fit.pvalues[0], rtol=1e-8)


def test_statsmodels_correction_is_the_n_over_n_minus_1_factor() -> None:
    sm = pytest.importorskip("statsmodels.api")
    x = _ar1(np.random.default_rng(2), 150, 0.3, 0.0)
    fit = sm.OLS(x, np.ones_like(x)).fit(cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": True})
    np.testing.assert_allclose(hac_mean_test(x, 5).se * math.sqrt(150 / 149), fit.bse[0], rtol=1e-10)


def test_matches_statsmodels_sandwich_module() -> None:
    sandwich = pytest.importorskip("statsmodels.stats.sandwich_covariance")
    x = _overlapping_returns(np.random.default_rng(4), 300, 6)
    d = (x - x.mean())[:, None]
    s = sandwich.S_hac_simple(d, nlags=5)[0, 0] / x.size
    np.testing.assert_allclose(newey_west_lrv(x, 5), s, rtol=1e-12)


@pytest.mark.parametrize("lag", [0, 3, 9])
def test_matches_brute_force_double_sum_with_gaps(lag: int) -> None:
    rng = np.random.default_rng(30 + lag)
    x = _ar1(rng, 120, 0.4, 0.05)
    x[[0, 17, 18, 60, 119]] = np.nan
    np.testing.assert_allclose(newey_west_lrv(x, lag), _brute_force_lrv(x, lag), rtol=1e-12)
    res = hac_mean_test(x, lag)
    assert res.n == 115
    np.testing.assert_allclose(res.se, math.sqrt(_brute_force_lrv(x, lag) / 115), rtol=1e-12)


def test_leading_and_trailing_nans_equal_dropping_them() -> None:
    x = _ar1(np.random.default_rng(8), 80, 0.2, 0.3)
    padded = np.concatenate([[np.nan] * 3, x, [np.nan] * 2])
    assert hac_mean_test(padded, 4) == pytest.approx(hac_mean_test(x, 4), rel=1e-12)


def test_lag_rules() -> None:
    assert automatic_lag(100) == 4
    assert automatic_lag(1000) == 6  # floor(4 * 10 ** (2/9)) = floor(6.67)
    assert automatic_lag(0) == 0
    assert default_lag(1000, horizon=24) == 23
    assert default_lag(1000, horizon=3) == 6
    x = _overlapping_returns(np.random.default_rng(1), 500, 24)
    assert hac_mean_test(x, horizon=24) == hac_mean_test(x, 23)
    assert hac_mean_test(x) == hac_mean_test(x, automatic_lag(500))
    np.testing.assert_allclose(bartlett_weights(3), [1.0, 0.75, 0.5, 0.25])
    with pytest.raises(ValueError):
        default_lag(100, horizon=0)
    with pytest.raises(ValueError):
        newey_west_lrv(x, -1)


def test_overlap_inflates_the_standard_error() -> None:
    """For MA(h-1) overlap, NW with L = h-1 recovers roughly sqrt(h) x the naive i.i.d. se."""
    h = 8
    x = _overlapping_returns(np.random.default_rng(12), 20000, h)
    naive = hac_mean_test(x, 0).se
    robust = hac_mean_test(x, 3 * h).se
    assert 0.8 * math.sqrt(h) < robust / naive < 1.2 * math.sqrt(h)


def test_small_samples() -> None:
    empty = hac_mean_test([], 3)
    assert empty.n == 0 and all(math.isnan(v) for v in empty[:4])
    one = hac_mean_test([1.5], 3)
    assert one.n == 1 and one.mean == 1.5 and all(math.isnan(v) for v in one[1:4])
    assert hac_mean_test([np.nan, 2.0, np.nan], 1).n == 1
    two = hac_mean_test([1.0, 3.0], 5)  # lag beyond the series: gamma_0 = 1, gamma_1 = -1/2, weight 5/6
    np.testing.assert_allclose(two.se, math.sqrt((1.0 - 2 * (5 / 6) * 0.5) / 2))
    assert two.mean == 2.0 and two.n == 2


def test_zero_variance_gives_nan_t_not_inf() -> None:
    for x in ([0.1] * 50, [0.1, np.nan] * 20, [-3.0, -3.0]):
        res = hac_mean_test(x, 4)
        assert res.se == 0.0 and math.isnan(res.t) and math.isnan(res.p_two_sided)
        assert res.mean == pytest.approx(x[0])


def test_infinite_values_rejected() -> None:
    with pytest.raises(ValueError):
        hac_mean_test([1.0, np.inf, 2.0], 1)


def test_null_rejection_rate_is_near_nominal() -> None:
    """Size on overlapping null returns: HAC with L = h-1 is mildly oversized (a known property of
    Bartlett weights on an MA(h-1), ~12% at 5% here), a wider L is closer, naive se is far off."""
    rng = np.random.default_rng(99)
    h, reps = 6, 400
    p_default, p_wide, p_naive = [], [], []
    for _ in range(reps):
        x = np.convolve(rng.normal(size=1000 + h - 1), np.ones(h), mode="valid")
        p_default.append(hac_mean_test(x, h - 1).p_two_sided)
        p_wide.append(hac_mean_test(x, 3 * (h - 1)).p_two_sided)
        p_naive.append(hac_mean_test(x, 0).p_two_sided)
    rate = {k: float(np.mean(np.array(v) < 0.05)) for k, v in
            (("default", p_default), ("wide", p_wide), ("naive", p_naive))}
    assert rate["default"] < 0.17
    assert rate["wide"] < 0.11
    assert rate["naive"] > 0.3
