"""PBO by CSCV: hand-computed cases, an independent per-combination loop, and the paper's
properties (noise -> ~0.5, a dominant column -> ~0, column order irrelevant)."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from python_udfs.overfitting import cscv_combinations, probability_of_backtest_overfitting

SQRT2 = math.sqrt(2.0)


def _slow_sharpe(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Column Sharpe mean / std(ddof=1), NaNs ignored, -inf when < 2 values or constant."""
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        out[j] = -np.inf if col.size < 2 or np.ptp(col) == 0 else col.mean() / col.std(ddof=1)
    return out


def _slow_pbo(m: npt.NDArray[np.float64], n_blocks: int) -> dict[str, npt.NDArray[np.float64]]:
    """Plain re-implementation of the paper, one combination at a time."""
    m = m[m.shape[0] % n_blocks :]
    blocks = np.split(m, n_blocks)
    n = m.shape[1]
    logits, is_best, oos_best = [], [], []
    for train in itertools.combinations(range(n_blocks), n_blocks // 2):
        test = [b for b in range(n_blocks) if b not in train]
        r = _slow_sharpe(np.vstack([blocks[b] for b in train]))
        r_bar = _slow_sharpe(np.vstack([blocks[b] for b in test]))
        k = int(np.argmax(r))
        omega = stats.rankdata(r_bar)[k] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
        is_best.append(r[k])
        oos_best.append(r_bar[k])
    return {"logits": np.array(logits), "is_best": np.array(is_best), "oos_best": np.array(oos_best)}


def test_hand_computed_example() -> None:
    """T = 4, S = 2, N = 3. Two rows per block; for two values Sharpe = (a + b) / (sqrt2 |a - b|).

    block 0 (rows 0-1): A = [1, 3] -> sqrt2, B = [-3, -1] -> -sqrt2, C = [-2, 0] -> -1/sqrt2
    block 1 (rows 2-3): A = [-1, 1] -> 0,    B = [1, 3] -> sqrt2,    C = [2, 4] -> 3/sqrt2
    c = 0 trains on block 0: winner A (sqrt2); on block 1 A ranks 1 of 3 -> w = 1/4, lambda = ln(1/3).
    c = 1 trains on block 1: winner C (3/sqrt2); on block 0 C ranks 2 of 3 -> w = 2/4, lambda = 0,
    which counts as overfit, so PBO = 1. Degradation through (sqrt2, 0) and (3/sqrt2, -1/sqrt2):
    slope -1, intercept sqrt2. One OOS loss out of two."""
    m = np.array([[1.0, -3.0, -2.0], [3.0, -1.0, 0.0], [-1.0, 1.0, 2.0], [1.0, 3.0, 4.0]])
    res = probability_of_backtest_overfitting(m, n_blocks=2)
    np.testing.assert_allclose(res.logits, [math.log(1 / 3), 0.0], rtol=0, atol=1e-15)
    assert res.pbo == 1.0
    np.testing.assert_allclose(res.is_best_in_sample, [SQRT2, 3 / SQRT2], rtol=1e-15)
    np.testing.assert_allclose(res.oos_of_best, [0.0, -1 / SQRT2], rtol=0, atol=1e-15)
    assert res.degradation_slope == pytest.approx(-1.0, abs=1e-12)
    assert res.degradation_intercept == pytest.approx(SQRT2, abs=1e-12)
    assert res.prob_oos_loss == 0.5
    assert (res.n_combinations, res.n_strategies, res.n_blocks) == (2, 3, 2)


def test_hand_computed_undefined_metric() -> None:
    """A is constant on block 0 (5, 5): its Sharpe there is undefined (-inf), so despite the
    largest mean it is not the winner and ranks last.

    block 0: A = [5, 5] -> -inf, B = [0, 2] -> 1/sqrt2;  block 1: A = [1, 3] -> sqrt2, B = [-1, 1] -> 0
    c = 0: winner B, OOS B ranks 1 of 2 -> w = 1/3, lambda = ln(1/2).
    c = 1: winner A, OOS A = -inf ranks 1 of 2 -> lambda = ln(1/2), reported OOS Sharpe NaN.
    Only c = 0 has a defined OOS Sharpe (0, not a loss); one finite pair -> no regression."""
    m = np.array([[5.0, 0.0], [5.0, 2.0], [1.0, -1.0], [3.0, 1.0]])
    res = probability_of_backtest_overfitting(m, n_blocks=2)
    np.testing.assert_allclose(res.logits, [math.log(0.5), math.log(0.5)], rtol=0, atol=1e-15)
    assert res.pbo == 1.0
    np.testing.assert_allclose(res.is_best_in_sample, [1 / SQRT2, SQRT2], rtol=1e-15)
    assert res.oos_of_best[0] == 0.0 and math.isnan(res.oos_of_best[1])
    assert res.prob_oos_loss == 0.0
    assert math.isnan(res.degradation_slope) and math.isnan(res.degradation_intercept)


def test_constant_stretch_with_rounding_is_never_the_winner() -> None:
    """64 copies of 0.7 have a float std of ~1e-16 (np.std says so), i.e. a Sharpe of ~6e15 if
    taken at face value; the exact min == max test must still call it undefined."""
    assert np.std(np.full(64, 0.7), ddof=1) > 0  # the trap is real
    rng = np.random.default_rng(11)
    m = rng.normal(0.05, 1.0, size=(128, 2))
    m[:64, 0] = 0.7
    res = probability_of_backtest_overfitting(m, n_blocks=2)
    col1 = m[:64, 1]
    assert res.is_best_in_sample[0] == pytest.approx(col1.mean() / col1.std(ddof=1), rel=1e-12)


def test_ties_in_sample_pick_lowest_column() -> None:
    """Identical in-sample Sharpes: the first column wins, and duplicates tie OOS (average rank)."""
    rng = np.random.default_rng(5)
    base = rng.normal(0.2, 1.0, size=(40, 1))
    m = np.hstack([rng.normal(size=(40, 1)), base, base, rng.normal(size=(40, 1))])
    res = probability_of_backtest_overfitting(m, n_blocks=4)
    slow = _slow_pbo(m, 4)
    np.testing.assert_allclose(res.logits, slow["logits"], rtol=0, atol=1e-12)
    # when the duplicate wins, its OOS rank is an average (x.5): w = rank / 5
    ranks = np.round(5 / (1 + np.exp(-res.logits)), 12)
    assert any(r % 1 == 0.5 for r in ranks) and any(r % 1 == 0 for r in ranks)


def test_matches_slow_loop_with_nans() -> None:
    rng = np.random.default_rng(2024)
    m = rng.normal(0.0, 1.0, size=(323, 7)) + rng.normal(0.0, 0.05, size=7)
    m[rng.random(m.shape) < 0.1] = np.nan
    m[3:123, 5] = np.nan  # sparse column: blocks with < 2 values -> undefined on some sets
    m[3:163, 6] = 0.0  # flat for blocks 0-3: undefined when those are the training set
    m[:3] = 1e6  # the 3 = 323 mod 8 oldest rows are dropped; they would dominate otherwise
    res = probability_of_backtest_overfitting(m, n_blocks=8)
    slow = _slow_pbo(m, 8)
    np.testing.assert_allclose(res.logits, slow["logits"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.is_best_in_sample, slow["is_best"], rtol=0, atol=1e-12)
    slow_oos = np.where(np.isinf(slow["oos_best"]), np.nan, slow["oos_best"])
    np.testing.assert_allclose(res.oos_of_best, slow_oos, rtol=0, atol=1e-12, equal_nan=True)
    assert res.pbo == np.mean(slow["logits"] <= 0)
    finite = ~np.isnan(slow_oos)
    assert res.prob_oos_loss == np.mean(slow_oos[finite] < 0)
    slope, intercept = np.polyfit(slow["is_best"][finite], slow_oos[finite], 1)
    assert res.degradation_slope == pytest.approx(slope, abs=1e-10)
    assert res.degradation_intercept == pytest.approx(intercept, abs=1e-10)
    assert res.n_combinations == 70


def test_noise_gives_pbo_near_half() -> None:
    """Under i.i.d. noise the OOS rank of the IS winner is uniform, so E[PBO] = 1/2. One matrix's
    PBO is very noisy (sd ~0.18 across seeds: the combinations share data), so average over
    seeds. The bounds are ~3 sd of the average (8 seeds at S = 16: sd ~0.06, this set gives 0.41;
    32 seeds at S = 8: sd ~0.03, gives 0.49) and reject a PBO stuck at 0 or 1."""
    s16 = [probability_of_backtest_overfitting(np.random.default_rng(s).normal(size=(2000, 50))).pbo for s in range(8)]
    assert 0.3 < np.mean(s16) < 0.7
    s8 = [
        probability_of_backtest_overfitting(np.random.default_rng(100 + s).normal(size=(2000, 50)), 8).pbo
        for s in range(32)
    ]
    assert 0.40 < np.mean(s8) < 0.60
    assert 0.0 < min(s8) and max(s8) < 1.0


def test_dominant_column_gives_pbo_near_zero() -> None:
    rng = np.random.default_rng(7)
    m = rng.normal(size=(2000, 50))
    m[:, 17] += 0.5
    res = probability_of_backtest_overfitting(m)
    assert res.pbo < 0.05
    np.testing.assert_allclose(res.logits, math.log(50.0), rtol=1e-14)  # always ranks N of N
    assert res.prob_oos_loss == 0.0


def test_column_permutation_invariance() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(500, 20))
    m[rng.random(m.shape) < 0.05] = np.nan
    m[:, 4] = m[:, 11]  # exact duplicates tie: results must not depend on where they sit
    # m[:, perm] below is not C-ordered: a layout-dependent column sum would show up here
    base = probability_of_backtest_overfitting(m, n_blocks=10)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(m.shape[1])
        other = probability_of_backtest_overfitting(m[:, perm], n_blocks=10)
        assert other.pbo == base.pbo
        np.testing.assert_array_equal(other.logits, base.logits)
        np.testing.assert_array_equal(other.is_best_in_sample, base.is_best_in_sample)
        np.testing.assert_array_equal(other.oos_of_best, base.oos_of_best)


def test_combinations_matrix() -> None:
    member = cscv_combinations(16)
    assert member.shape == (12870, 16) and member.dtype == np.bool_
    assert (member.sum(axis=1) == 8).all()
    assert len({row.tobytes() for row in member}) == 12870
    assert member[0].tolist() == [True] * 8 + [False] * 8  # itertools order
    assert member[-1].tolist() == [False] * 8 + [True] * 8
    assert {row.tobytes() for row in ~member} == {row.tobytes() for row in member}  # complements present
    np.testing.assert_array_equal(cscv_combinations(2), [[True, False], [False, True]])


def test_default_size_is_fast() -> None:
    """C(16, 8) = 12,870 combinations x 100 strategies; a per-combination Python loop takes seconds."""
    m = np.random.default_rng(0).normal(size=(1600, 100))
    start = time.perf_counter()
    probability_of_backtest_overfitting(m)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_blocks": 3}, "n_blocks must be an even integer"),
        ({"n_blocks": 0}, "n_blocks must be an even integer"),
        ({"n_blocks": 2.5}, "n_blocks must be an integer"),
        ({"returns": np.zeros((100, 1))}, "N >= 2"),
        ({"returns": np.zeros((31, 3))}, r"T >= 2 \* n_blocks = 32"),
        ({"returns": np.zeros(100)}, "2-D"),
        ({"returns": np.full((40, 3), np.inf)}, "infinite"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"returns": np.random.default_rng(0).normal(size=(64, 3)), "n_blocks": 16}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(**args)  # type: ignore[arg-type]


def test_bad_block_count_for_combinations() -> None:
    with pytest.raises(ValueError, match="n_blocks must be an even integer >= 2, got 5"):
        cscv_combinations(5)
