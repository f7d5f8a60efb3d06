"""PSR / DSR against a scalar re-implementation of the paper formulas, the worked example of
Bailey & Lopez de Prado (2014) and Monte Carlo."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from python_udfs.sharpe import (
    deflated_sharpe_ratio,
    effective_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_ratio_std,
    sharpe_stats,
)

PHI = NormalDist()
GAMMA = 0.5772156649015329


def _ref_psr(sr: float, t: float, skew: float, kurt: float, bench: float) -> float:
    return PHI.cdf((sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr))


def _ref_sr0(n: float, var: float) -> float:
    return math.sqrt(var) * ((1 - GAMMA) * PHI.inv_cdf(1 - 1 / n) + GAMMA * PHI.inv_cdf(1 - 1 / (n * math.e)))


def _ref_mintrl(sr: float, skew: float, kurt: float, bench: float, alpha: float) -> float:
    return 1 + (1 - skew * sr + (kurt - 1) / 4 * sr * sr) * (PHI.inv_cdf(1 - alpha) / (sr - bench)) ** 2


def test_paper_worked_example() -> None:
    """DSR paper: annual SR 2.5 over 5 years of daily data (T = 1250), skew -3, kurtosis 10,
    N = 100 trials with annualised Sharpe variance 0.5 -> SR0 ~ 0.1132 daily, DSR ~ 0.9004."""
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    assert float(expected_max_sharpe(100, var)) == pytest.approx(0.1132, abs=5e-5)
    assert float(deflated_sharpe_ratio(sr, 1250, 100, var, skew=-3, kurtosis=10)) == pytest.approx(0.9004, abs=2e-4)


def test_matches_scalar_reference_on_random_inputs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        sr = float(rng.uniform(-0.3, 0.5))
        t = int(rng.integers(5, 5000))
        skew = float(rng.uniform(-2, 1))
        kurt = float(rng.uniform(2, 12))
        bench = float(rng.uniform(-0.1, 0.2))
        n = float(rng.uniform(2, 1000))
        var = float(rng.uniform(0, 0.05))
        if 1 - skew * sr + (kurt - 1) / 4 * sr * sr <= 0:
            continue
        assert float(probabilistic_sharpe_ratio(sr, t, skew, kurt, bench)) == pytest.approx(
            _ref_psr(sr, t, skew, kurt, bench), rel=1e-10, abs=1e-14)
        sr0 = _ref_sr0(n, var)
        assert float(expected_max_sharpe(n, var)) == pytest.approx(sr0, rel=1e-10, abs=1e-14)
        assert float(deflated_sharpe_ratio(sr, t, n, var, skew, kurt)) == pytest.approx(
            _ref_psr(sr, t, skew, kurt, sr0), rel=1e-10, abs=1e-14)
        assert float(sharpe_ratio_std(sr, t, skew, kurt)) == pytest.approx(
            math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (t - 1)), rel=1e-12)
        if sr > bench:
            assert float(min_track_record_length(sr, skew, kurt, bench, 0.05)) == pytest.approx(
                _ref_mintrl(sr, skew, kurt, bench, 0.05), rel=1e-10)


def test_vectorised_equals_elementwise() -> None:
    rng = np.random.default_rng(1)
    sr = rng.uniform(0, 0.3, 50)
    t = rng.integers(10, 1000, 50)
    skew = rng.uniform(-1, 0.5, 50)
    kurt = rng.uniform(3, 8, 50)
    out = deflated_sharpe_ratio(sr, t, 40, 0.002, skew, kurt)
    assert out.shape == (50,)
    for i in range(50):
        assert out[i] == pytest.approx(_ref_psr(sr[i], t[i], skew[i], kurt[i], _ref_sr0(40, 0.002)), rel=1e-10)


def test_normal_returns_lo_standard_error() -> None:
    """Normal returns (skew 0, kurtosis 3): Var(SR) = (1 + SR^2 / 2) / (T - 1) (Lo 2002)."""
    assert float(sharpe_ratio_std(0.2, 101)) == pytest.approx(math.sqrt((1 + 0.02) / 100), rel=1e-12)


def test_psr_properties() -> None:
    assert float(probabilistic_sharpe_ratio(0.1, 500, -1.0, 6.0, sr_benchmark=0.1)) == 0.5
    lengths = np.array([50, 200, 1000, 5000])
    psr = probabilistic_sharpe_ratio(0.08, lengths, -0.5, 5.0)
    assert np.all(np.diff(psr) > 0)
    # negative skew and fat tails lower PSR for a positive SR
    assert float(probabilistic_sharpe_ratio(0.1, 300, -2, 9)) < float(probabilistic_sharpe_ratio(0.1, 300))


def test_min_track_record_length_hits_the_confidence_level() -> None:
    mintrl = float(min_track_record_length(0.12, -1.0, 6.0, 0.02, alpha=0.05))
    assert float(probabilistic_sharpe_ratio(0.12, mintrl, -1.0, 6.0, 0.02)) == pytest.approx(0.95, rel=1e-12)
    assert math.isnan(float(min_track_record_length(0.01, sr_benchmark=0.02)))
    with pytest.raises(ValueError):
        min_track_record_length(0.1, alpha=0.0)


def test_expected_max_sharpe_against_monte_carlo() -> None:
    """The approximation is within ~1% of the simulated mean maximum for N = 100, 1000."""
    rng = np.random.default_rng(2)
    sd = 0.05
    for n in (100, 1000):
        sims = rng.normal(0, sd, (4000, n)).max(axis=1).mean()
        assert float(expected_max_sharpe(n, sd**2)) == pytest.approx(sims, rel=0.02)


def test_expected_max_sharpe_edges() -> None:
    assert float(expected_max_sharpe(1, 0.01)) == 0.0
    assert float(expected_max_sharpe(1.05, 0.01, mean_trials=0.03)) == 0.03  # floored at the mean
    assert float(expected_max_sharpe(2, 0.01)) == pytest.approx(_ref_sr0(2, 0.01), rel=1e-12)
    assert math.isnan(float(expected_max_sharpe(0.5, 0.01)))
    assert math.isnan(float(expected_max_sharpe(10, -0.01)))
    assert float(expected_max_sharpe(50, 0.0)) == 0.0
    grid = expected_max_sharpe(np.array([2, 10, 100, 1000]), 0.01)
    assert np.all(np.diff(grid) > 0)
    # one trial: DSR is PSR against 0
    assert float(deflated_sharpe_ratio(0.1, 400, 1, 0.01)) == float(probabilistic_sharpe_ratio(0.1, 400))


def test_undefined_inputs_are_nan() -> None:
    assert math.isnan(float(probabilistic_sharpe_ratio(0.1, 1)))
    assert math.isnan(float(sharpe_ratio_std(1.0, 100, skew=3.0, kurtosis=1.0)))  # 1 - 3 + 0 < 0
    assert math.isnan(float(effective_trials(10, 1.5)))


def test_effective_trials() -> None:
    assert float(effective_trials(100, 0.0)) == 100
    assert float(effective_trials(100, 1.0)) == 1
    assert float(effective_trials(100, 0.3)) == pytest.approx(70.3)


def test_sharpe_stats_moments() -> None:
    rng = np.random.default_rng(3)
    r = rng.standard_t(5, 2000) * 0.01 + 0.001
    r[[5, 50]] = np.nan
    got = sharpe_stats(r)
    x = r[~np.isnan(r)]
    d = x - x.mean()
    m2 = np.mean(d**2)
    assert got.n_obs == 1998
    assert got.sr == pytest.approx(x.mean() / x.std(ddof=1), rel=1e-12)
    assert got.skew == pytest.approx(np.mean(d**3) / m2**1.5, rel=1e-10)
    assert got.kurtosis == pytest.approx(np.mean(d**4) / m2**2, rel=1e-10)
    assert got.kurtosis > 3.5  # non-excess: heavy tails of t(5)
    assert math.isnan(sharpe_stats([0.01] * 10).sr)
    assert math.isnan(sharpe_stats([0.01]).sr)
