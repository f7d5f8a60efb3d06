"""PSI on hand-computed bins and on simulated drift, plus the edge conventions (outer bins,
discrete features, NaNs, too few values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from python_udfs.drift_monitor import EPSILON, drift_level, population_stability_index


def _psi(expected: list[float], actual: list[float]) -> float:
    """The formula with explicit shares, floored at EPSILON in both factors."""
    floored = [(max(e, EPSILON), max(a, EPSILON)) for e, a in zip(expected, actual, strict=True)]
    return sum((a - e) * math.log(a / e) for e, a in floored)


def test_same_distribution_is_stable() -> None:
    rng = np.random.default_rng(0)
    res = population_stability_index(rng.normal(size=20_000), rng.normal(size=20_000))
    assert 0.0 <= res.psi < 0.02
    assert res.n_bins_used == 10
    assert drift_level(res.psi) == "stable"


def test_one_sd_shift_is_significant() -> None:
    rng = np.random.default_rng(1)
    res = population_stability_index(rng.normal(size=20_000), rng.normal(1.0, 1.0, size=20_000))
    assert res.psi >= 0.25
    assert drift_level(res.psi) == "significant"


def test_hand_computed_two_bins() -> None:
    """Reference 1..8, 2 bins: the median edge is 4 (an observed value), bins (-inf, 4], (4, inf),
    reference shares 1/2, 1/2. Monitored 1, 2, 3, 4, 5, 6 -> 4/6 and 2/6 (4 sits in the lower,
    right-closed bin)."""
    res = population_stability_index(np.arange(1.0, 9.0), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], n_bins=2)
    expected = (4 / 6 - 1 / 2) * math.log((4 / 6) / (1 / 2)) + (2 / 6 - 1 / 2) * math.log((2 / 6) / (1 / 2))
    assert res.psi == pytest.approx(expected, rel=1e-12)
    assert res.psi == pytest.approx(0.1155, abs=1e-4)
    assert res.n_bins_used == 2
    assert drift_level(res.psi) == "moderate"


def test_values_outside_reference_range_land_in_outer_bins() -> None:
    """Reference 1..4 in 2 bins (edge 2). Monitored far below the minimum and far above the
    maximum still count: 3 of 4 in the lower bin, 1 in the upper."""
    res = population_stability_index([1.0, 2.0, 3.0, 4.0], [-100.0, -50.0, 0.0, 100.0], n_bins=2)
    assert res.psi == pytest.approx(_psi([0.5, 0.5], [0.75, 0.25]), rel=1e-12)
    assert res.n_monitored == 4
    # everything above the reference maximum: an empty lower bin is floored, not infinite
    res = population_stability_index([1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0], n_bins=2)
    assert res.psi == pytest.approx(_psi([0.5, 0.5], [0.0, 1.0]), rel=1e-12)
    assert math.isfinite(res.psi)


def test_discrete_reference_collapses_edges() -> None:
    """Deciles of a 0/1 feature are all 0 or 1: edges collapse to {0, 1}, bins (-inf, 0], (0, 1],
    (1, inf) with reference shares 0.7, 0.3, 0 (floored)."""
    reference = np.array([0.0] * 70 + [1.0] * 30)
    monitored = np.array([0.0] * 40 + [1.0] * 60)
    res = population_stability_index(reference, monitored)
    assert res.n_bins_used == 3
    assert res.psi == pytest.approx(_psi([0.7, 0.3, 0.0], [0.4, 0.6, 0.0]), rel=1e-12)
    # a value never seen in the reference shows up through the empty top bin
    res_new = population_stability_index(reference, np.array([0.0] * 70 + [1.0] * 20 + [2.0] * 10))
    assert res_new.psi == pytest.approx(_psi([0.7, 0.3, 0.0], [0.7, 0.2, 0.1]), rel=1e-12)


def test_constant_reference() -> None:
    res = population_stability_index(np.full(50, 3.0), np.full(40, 3.0))
    assert (res.psi, res.n_bins_used) == (0.0, 2)
    res = population_stability_index(np.full(50, 3.0), np.r_[np.full(20, 3.0), np.full(20, 4.0)])
    assert res.psi == pytest.approx(_psi([1.0, 0.0], [0.5, 0.5]), rel=1e-12)
    assert math.isfinite(res.psi)


def test_nans_dropped_and_counted() -> None:
    reference = np.r_[np.arange(1.0, 9.0), [np.nan] * 3]
    monitored = np.array([np.nan, 1.0, 2.0, 3.0, 4.0, np.nan, 5.0, 6.0])
    res = population_stability_index(reference, monitored, n_bins=2)
    clean = population_stability_index(np.arange(1.0, 9.0), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], n_bins=2)
    assert res.psi == clean.psi
    assert (res.n_reference, res.n_monitored, res.n_reference_null, res.n_monitored_null) == (8, 6, 3, 2)


def test_too_few_values_gives_nan() -> None:
    res = population_stability_index(np.arange(9.0), np.arange(20.0))  # 9 < 10 bins
    assert math.isnan(res.psi) and res.n_bins_used == 0
    assert (res.n_reference, res.n_monitored) == (9, 20)
    res = population_stability_index(np.arange(20.0), [1.0, np.nan, 2.0] * 4, n_bins=10)  # 8 non-null
    assert math.isnan(res.psi) and res.n_monitored_null == 4
    assert drift_level(res.psi) == "unknown"
    assert math.isnan(population_stability_index([], []).psi)


def test_drift_level_thresholds() -> None:
    assert [drift_level(x) for x in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        "stable",
        "stable",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]
    assert drift_level(float("nan")) == "unknown"


@pytest.mark.parametrize("n_bins", [1, 0, 2.5])
def test_bad_bin_count(n_bins: object) -> None:
    with pytest.raises(ValueError, match="n_bins"):
        population_stability_index(np.arange(50.0), np.arange(50.0), n_bins=n_bins)  # type: ignore[arg-type]
