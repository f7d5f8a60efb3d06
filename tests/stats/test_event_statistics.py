"""Per-cell statistics of phase 2 (python_udfs/event_statistics.py) against independent references:
the bar-time HAC against hac.newey_west_lrv on the dense bar grid, the greedy de-overlap count
against a plain loop, medians and halves against numpy per cell."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from python_udfs.event_statistics import cell_statistics, hac_lag
from python_udfs.hac import newey_west_lrv


def _cells(seed: int, n_cells: int = 6):
    rng = np.random.default_rng(seed)
    rows = []
    for code in range(n_cells):
        n = int(rng.integers(1, 40))
        index = np.sort(rng.choice(3000, size=n, replace=False))
        values = rng.normal(rng.normal(0, 0.5), 1.0, n).round(2)  # ties in medians
        rows.append((code, index, values))
    horizons = rng.choice([3, 12, 48], size=n_cells)
    order = rng.permutation(sum(len(r[1]) for r in rows))  # input order must not matter
    cell = np.concatenate([np.full(len(r[1]), r[0]) for r in rows])[order]
    index = np.concatenate([r[1] for r in rows])[order]
    values = np.concatenate([r[2] for r in rows])[order]
    return rows, horizons, cell, index, values


def _greedy(index: np.ndarray, h: int) -> int:
    kept, last = 0, -10**9
    for value in sorted(index):
        if value >= last + h:
            kept, last = kept + 1, value
    return kept


@pytest.mark.parametrize("seed", range(8))
def test_cell_statistics_match_per_cell_references(seed: int) -> None:
    rows, horizons, cell, index, values = _cells(seed)
    result = cell_statistics(cell, index, values, horizons, len(rows))
    for code, idx, x in rows:
        n = len(x)
        assert result.n[code] == n
        assert result.mean[code] == pytest.approx(x.mean())
        assert result.median[code] == pytest.approx(np.median(x))
        assert result.hit_rate[code] == pytest.approx((x > 0).mean())
        assert result.n_deoverlapped[code] == _greedy(idx, int(horizons[code]))
        ordered = x[np.argsort(idx, kind="stable")]
        half = int(np.ceil(n / 2))
        assert result.mean_first_half[code] == pytest.approx(ordered[:half].mean())
        if n >= 2:
            dense = np.full(3000, np.nan)
            dense[idx] = x
            se = np.sqrt(newey_west_lrv(dense, int(hac_lag(horizons[code]))) / n)
            assert result.hac_se[code] == pytest.approx(se, rel=1e-10)
            if se > 0:
                t = x.mean() / se
                assert result.p_two_sided[code] == pytest.approx(min(1.0, 2 * stats.t.sf(abs(t), n - 1)), rel=1e-9)
                assert result.p_positive[code] == pytest.approx(stats.t.sf(t, n - 1), rel=1e-9)
        else:
            assert np.isnan(result.hac_se[code]) and np.isnan(result.p_two_sided[code])


def test_missing_values_are_left_out_and_constant_cells_have_no_t() -> None:
    cell = np.array([0, 0, 0, 1, 1])
    index = np.array([0, 10, 20, 0, 50])
    values = np.array([1.0, np.nan, 3.0, 2.0, 2.0])
    result = cell_statistics(cell, index, values, np.array([12, 12]), 2)
    assert result.n.tolist() == [2, 2]
    assert result.mean[0] == 2.0
    assert result.hac_se[1] == 0.0 and np.isnan(result.t[1]) and np.isnan(result.p_two_sided[1])


def test_overlapping_events_widen_the_standard_error() -> None:
    """The same values 1 bar apart (overlapping 12-bar windows) get a larger HAC standard error
    than 100 bars apart, and the de-overlapped count falls to the independent windows."""
    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(0.2, 1.0, 30), 2)
    cell = np.zeros(60, dtype=int)
    close = np.repeat(np.arange(30) * 100, 2) + np.tile([0, 1], 30)
    apart = np.arange(60) * 100
    near = cell_statistics(cell, close, x, np.array([12]), 1)
    far = cell_statistics(cell, apart, x, np.array([12]), 1)
    assert near.hac_se[0] > far.hac_se[0] * 1.2
    assert near.n_deoverlapped[0] == 30 and far.n_deoverlapped[0] == 60
