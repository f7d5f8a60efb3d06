"""BH / BY q-values against scipy (and statsmodels when installed) plus the step-up definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from python_udfs.multiple_testing import bh_qvalues, by_qvalues, qvalues_by_group, rejections

METHODS = [("bh", bh_qvalues), ("by", by_qvalues)]


def _random_pvalues(rng: np.random.Generator, m: int) -> np.ndarray:
    """A mix of signals (tiny p) and nulls (uniform p)."""
    n_signal = m // 4
    return np.concatenate([rng.uniform(0, 1e-3, n_signal), rng.uniform(0, 1, m - n_signal)])[rng.permutation(m)]


@pytest.mark.parametrize(("method", "func"), METHODS)
@pytest.mark.parametrize("m", [1, 2, 3, 10, 57, 500])
def test_matches_scipy_on_random_inputs(method: str, func, m: int) -> None:
    rng = np.random.default_rng(1000 + m)
    for _ in range(5):
        p = _random_pvalues(rng, m)
        np.testing.assert_allclose(func(p), stats.false_discovery_control(p, method=method), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("method", "func"), METHODS)
def test_matches_scipy_with_ties_zeros_and_ones(method: str, func) -> None:
    rng = np.random.default_rng(7)
    p = np.round(rng.uniform(0, 0.2, 200), 2)  # heavy ties
    p[:5] = 0.0
    p[5:15] = 1.0
    rng.shuffle(p)
    q = func(p)
    np.testing.assert_allclose(q, stats.false_discovery_control(p, method=method), rtol=1e-12, atol=0)
    for value in np.unique(p):  # tied p-values share one q whatever their position
        assert np.ptp(q[p == value]) == 0.0


@pytest.mark.parametrize(("method", "func"), METHODS)
def test_single_and_all_ones(method: str, func) -> None:
    np.testing.assert_allclose(func([0.03]), [0.03])  # m = 1 and c(1) = 1: unchanged
    np.testing.assert_array_equal(func(np.ones(17)), np.ones(17))
    np.testing.assert_array_equal(func([]), np.empty(0))


def test_known_small_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 4p/i = 0.04, 0.06, 0.0533, 0.5 -> cummin from top
    np.testing.assert_allclose(bh_qvalues(p), [0.04, 0.0533333333333, 0.0533333333333, 0.5], rtol=1e-10)
    c4 = 1 + 1 / 2 + 1 / 3 + 1 / 4
    np.testing.assert_allclose(by_qvalues(p), np.minimum(1, [0.04 * c4, 0.16 / 3 * c4, 0.16 / 3 * c4, 0.5 * c4]))


@pytest.mark.parametrize(("method", "func"), METHODS)
def test_nan_stays_nan_and_is_not_counted(method: str, func) -> None:
    rng = np.random.default_rng(3)
    p = _random_pvalues(rng, 40)
    p[[0, 7, 31]] = np.nan
    q = func(p)
    assert np.isnan(q[[0, 7, 31]]).all()
    ok = ~np.isnan(p)
    np.testing.assert_allclose(q[ok], stats.false_discovery_control(p[ok], method=method), rtol=1e-12)
    np.testing.assert_allclose(func([0.01, np.nan, np.nan]), [0.01, np.nan, np.nan])  # m = 1, not 3
    assert np.isnan(func([np.nan, np.nan])).all()


@pytest.mark.parametrize(("method", "func"), METHODS)
def test_monotone_in_p(method: str, func) -> None:
    rng = np.random.default_rng(11)
    p = _random_pvalues(rng, 300)
    q = func(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= 0)
    assert np.all(q >= p) and np.all(q <= 1)


def _bh_step_up_reject(p: np.ndarray, alpha: float, c: float = 1.0) -> np.ndarray:
    """The procedure as stated: k = max{i : p_(i) <= i alpha / (m c)}, reject the k smallest."""
    m = p.size
    order = np.argsort(p)
    below = np.nonzero(p[order] <= np.arange(1, m + 1) * alpha / (m * c))[0]
    reject = np.zeros(m, dtype=bool)
    if below.size:
        reject[order[: below[-1] + 1]] = True
    return reject


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_rejections_equal_step_up_procedure(alpha: float) -> None:
    rng = np.random.default_rng(21)
    for m in (1, 5, 80, 400):
        p = _random_pvalues(rng, m)
        np.testing.assert_array_equal(rejections(bh_qvalues(p), alpha), _bh_step_up_reject(p, alpha))
        c = float(np.sum(1 / np.arange(1, m + 1)))
        np.testing.assert_array_equal(rejections(by_qvalues(p), alpha), _bh_step_up_reject(p, alpha, c))


def test_rejections_nan_is_false_and_alpha_validated() -> None:
    np.testing.assert_array_equal(rejections([0.01, np.nan, 0.5], 0.05), [True, False, False])
    with pytest.raises(ValueError):
        rejections([0.1], 1.5)


def test_invalid_pvalues_raise() -> None:
    with pytest.raises(ValueError):
        bh_qvalues([0.1, 1.2])
    with pytest.raises(ValueError):
        by_qvalues([-0.01])


def test_all_null_fdr_is_controlled() -> None:
    """Under the global null, FDR = P(any rejection); BH keeps it at alpha (independent p)."""
    rng = np.random.default_rng(5)
    reps, m, alpha = 2000, 20, 0.1
    any_rejection = np.array([rejections(bh_qvalues(rng.uniform(size=m)), alpha).any() for _ in range(reps)])
    assert any_rejection.mean() <= alpha + 4 * np.sqrt(alpha * (1 - alpha) / reps)


def test_grouped_qvalues_are_per_group() -> None:
    rng = np.random.default_rng(9)
    p = _random_pvalues(rng, 90)
    groups = [("fam", i % 3) for i in range(90)]
    q = qvalues_by_group(p, groups, "bh")
    for g in range(3):
        idx = np.arange(g, 90, 3)
        np.testing.assert_allclose(q[idx], stats.false_discovery_control(p[idx], method="bh"), rtol=1e-12)
    assert not np.allclose(q, bh_qvalues(p))


@pytest.mark.parametrize(("sm_method", "func"), [("fdr_bh", bh_qvalues), ("fdr_by", by_qvalues)])
def test_matches_statsmodels(sm_method: str, func) -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(17)
    p = np.round(_random_pvalues(rng, 250), 3)
    _, p_adj, _, _ = multitest.multipletests(p, alpha=0.05, method=sm_method)
    np.testing.assert_allclose(func(p), p_adj, rtol=1e-12)
