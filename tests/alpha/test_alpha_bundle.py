"""The alpha bundle's numbers (python_udfs/alpha_bundle.py) at numpy level: residuals orthogonal to
the regressors within the estimation window, the fit against a per-bar least-squares reference,
truncation invariance of the whole chain (no value at bar t reads bar t + 1), ranks taken only among
the symbols with data, and the books the portfolio construction builds."""

from __future__ import annotations

import numpy as np
import pytest

from python_udfs.alpha_bundle import (book_weights, combination_weights, combine, cross_section_scores,
                                      factor_returns, gate, hold_decisions, orthogonalise, rebalance_bars,
                                      regressors, rolling_ols, rolling_volatility)


def panel(seed: int, n_bars: int = 400, n_symbols: int = 5, n_signals: int = 3, n_factors: int = 2,
          missing: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Correlated signal scores (S x T x N) and factor exposures (F x T x N), with holes."""
    rng = np.random.default_rng(seed)
    factors = 1.0 + 0.3 * rng.normal(size=(n_factors, n_bars, n_symbols))
    scores = np.empty((n_signals, n_bars, n_symbols))
    for j in range(n_signals):
        scores[j] = 0.5 * factors[0] + (scores[j - 1] * 0.6 if j else 0.0) + rng.normal(size=(n_bars, n_symbols))
    scores[rng.random(scores.shape) < missing] = np.nan
    factors[rng.random(factors.shape) < missing / 2] = np.nan
    return scores, factors


def window_rows(t: int, window: int | None) -> slice:
    return slice(0 if window is None else max(0, t - window + 1), t + 1)


@pytest.mark.parametrize("window", [50, None])
def test_residuals_are_orthogonal_to_the_regressors_within_the_estimation_window(window: int | None) -> None:
    scores, factors = panel(1)
    residuals, n_obs = orthogonalise(scores, factors, intercept=True, method="sequential", window=window, min_obs=30)
    for j in range(scores.shape[0]):
        x = regressors(scores, factors, j, intercept=True, method="sequential")
        fit = rolling_ols(scores[j], x, window, 30)
        np.testing.assert_array_equal(fit.residual, residuals[j])
        checked = 0
        for t in range(40, scores.shape[1], 37):
            if not np.isfinite(fit.coef[t]).all():
                continue
            rows = window_rows(t, window)
            xw, yw = x[rows].reshape(-1, x.shape[2]), scores[j][rows].reshape(-1)
            keep = np.isfinite(yw) & np.isfinite(xw).all(axis=1)
            xw, yw = xw[keep], yw[keep]
            in_window = yw - xw @ fit.coef[t]              # the window's residuals under bar t's coefficients
            scale = np.linalg.norm(xw, axis=0) * np.linalg.norm(yw)
            assert np.all(np.abs(xw.T @ in_window) <= 1e-8 * scale), (j, t, xw.T @ in_window)
            assert keep.sum() == n_obs[j, t]
            # the same fit as a plain least-squares solve on the window
            reference = np.linalg.lstsq(xw, yw, rcond=None)[0]
            np.testing.assert_allclose(fit.coef[t], reference, rtol=1e-6, atol=1e-8)
            here = np.isfinite(scores[j][t]) & np.isfinite(x[t]).all(axis=1)
            np.testing.assert_allclose(residuals[j][t][here], scores[j][t][here] - x[t][here] @ fit.coef[t], atol=1e-12)
            checked += 1
        assert checked >= 5


def test_sequential_and_symmetric_orthogonalisation_remove_the_right_signals() -> None:
    """Sequential: each residual is orthogonal (in its window) to the factors and the signals before
    it; symmetric: to every other signal. Pooled over a window-sized sample the later residuals are
    uncorrelated with the earlier scores, while the raw scores were strongly correlated."""
    scores, factors = panel(2, n_bars=300, missing=0.0)
    window = 300
    for method, others in (("sequential", lambda j: range(j)), ("symmetric", lambda j: [i for i in range(3) if i != j])):
        residuals, _ = orthogonalise(scores, factors, intercept=True, method=method, window=window, min_obs=50)
        t = scores.shape[1] - 1
        for j in range(3):
            e = residuals[j][t]
            assert np.isfinite(e).all()
            for i in others(j):
                raw = np.corrcoef(scores[i].ravel(), scores[j].ravel())[0, 1]
                # the last bar's residual is one cross-section; the orthogonality holds over the window
                x = regressors(scores, factors, j, True, method)
                fit = rolling_ols(scores[j], x, window, 50)
                in_window = scores[j] - np.einsum("tnk,k->tn", x, fit.coef[t])
                assert abs(np.sum(in_window * scores[i])) < 1e-8 * np.linalg.norm(scores[i]) * np.linalg.norm(in_window)
                if method == "sequential" and i == j - 1:
                    assert abs(raw) > 0.3


def test_collinear_regressors_still_give_orthogonal_residuals() -> None:
    """A factor equal to the intercept, or two identical signals: the fit is still a least-squares
    fit (the ridge only picks among the equivalent coefficients)."""
    scores, factors = panel(3, missing=0.0)
    factors[1] = 1.0                                   # a constant exposure: collinear with the intercept
    scores[2] = scores[1]                              # an exact duplicate of the signal before it
    residuals, _ = orthogonalise(scores, factors, intercept=True, method="sequential", window=60, min_obs=30)
    assert np.nanmax(np.abs(residuals[2])) < 1e-6      # nothing is left of a duplicate
    x = regressors(scores, factors, 1, True, "sequential")
    fit = rolling_ols(scores[1], x, 60, 30)
    t = 200
    rows = window_rows(t, 60)
    xw, yw = x[rows].reshape(-1, x.shape[2]), scores[1][rows].reshape(-1)
    assert np.all(np.abs(xw.T @ (yw - xw @ fit.coef[t])) <= 1e-7 * np.linalg.norm(xw, axis=0) * np.linalg.norm(yw))


def chain(raw: np.ndarray, regime: np.ndarray, factors: np.ndarray, returns: np.ndarray, bar_index: np.ndarray) -> dict:
    """The whole bundle on arrays, as the models run it."""
    transforms = ("xs_rank", "xs_zscore", "time_series")
    scores = np.stack([cross_section_scores(raw[j], transforms[j], 3)[0] for j in range(raw.shape[0])])
    residuals, _ = orthogonalise(scores, factors, intercept=True, method="sequential", window=80, min_obs=60)
    values = gate(residuals, regime)
    returns_by_stage = factor_returns(residuals, returns, 3)
    volatility = rolling_volatility(returns_by_stage, 50, 20)
    combined = combine(values, combination_weights(np.array([1.0, 2.0, 0.5]), volatility))
    book = book_weights(combined, "dollar_neutral", 1.0, 0.4, 3)
    held, decided = hold_decisions(book, rebalance_bars(bar_index, 6))
    return {"scores": scores, "residuals": residuals, "values": values, "factor_returns": returns_by_stage,
            "volatility": volatility, "combined": combined, "weights": held, "decided": decided}


def test_no_value_at_bar_t_reads_a_later_bar() -> None:
    """Truncation: the chain on data cut at T equals the full run on every bar before T, and so does
    the chain on data whose bars from T on are replaced by garbage."""
    rng = np.random.default_rng(7)
    n_bars, n_symbols = 360, 6
    raw = rng.normal(size=(3, n_bars, n_symbols))
    raw[rng.random(raw.shape) < 0.05] = np.nan
    regime = rng.random(raw.shape) < 0.8
    factors = 1.0 + 0.2 * rng.normal(size=(2, n_bars, n_symbols))
    returns = rng.normal(0, 0.01, (n_bars, n_symbols))
    bar_index = np.arange(n_bars) + 1_000
    full = chain(raw, regime, factors, returns, bar_index)
    for cut in (150, 241, 300):
        short = chain(raw[:, :cut], regime[:, :cut], factors[:, :cut], returns[:cut], bar_index[:cut])
        noisy = [a.copy() for a in (raw, factors, returns)]
        for array in noisy:
            array[..., cut:, :] = rng.normal(size=array[..., cut:, :].shape) * 100
        flipped = regime.copy()
        flipped[:, cut:] = ~flipped[:, cut:]
        garbage = chain(noisy[0], flipped, noisy[1], noisy[2], bar_index)
        for name, values in full.items():
            np.testing.assert_array_equal(short[name], values[..., :cut] if values.ndim == 1 else
                                          (values[:, :cut] if name in ("factor_returns", "volatility") else
                                           values[..., :cut, :]), err_msg=f"{name} cut at {cut}")
            before = garbage[name][..., :cut] if values.ndim == 1 else (
                garbage[name][:, :cut] if name in ("factor_returns", "volatility") else garbage[name][..., :cut, :])
            np.testing.assert_array_equal(before, short[name], err_msg=f"{name} with garbage from {cut}")
    assert np.isfinite(full["weights"]).all() and np.abs(full["weights"]).sum() > 0


def test_ranks_are_taken_only_among_the_symbols_with_data() -> None:
    """Hand-computed: a symbol without a value is neither ranked nor counted nor zero; ties share the
    average rank; z-scores use the known values only."""
    nan = np.nan
    values = np.array([[0.3, -0.1, 0.2, nan],       # 3 known: ranks -1, 0, 1
                       [0.5, nan, nan, 0.1],        # 2 known: below min_symbols = 3 -> no score
                       [0.2, 0.2, -0.4, 0.9],       # a tie at 0.2: (1 - 1) / 3 = 0 for both
                       [nan, nan, nan, nan]])
    scores, count = cross_section_scores(values, "xs_rank", 3)
    np.testing.assert_array_equal(count, [3, 2, 4, 0])
    np.testing.assert_allclose(scores[0], [1.0, -1.0, 0.0, nan])
    assert np.isnan(scores[1]).all() and np.isnan(scores[3]).all()
    np.testing.assert_allclose(scores[2], [0.0, 0.0, -1.0, 1.0])
    # a NaN is not a low value: filling it with 0 would change the others' ranks
    filled, _ = cross_section_scores(np.nan_to_num(values[:1]), "xs_rank", 3)
    assert scores[0, 2] == 0.0 and filled[0, 2] == pytest.approx(1 / 3)
    z, _ = cross_section_scores(values, "xs_zscore", 3)
    known = np.array([0.3, -0.1, 0.2])
    np.testing.assert_allclose(z[0, :3], (known - known.mean()) / known.std(ddof=1))
    assert np.isnan(z[0, 3])
    same, _ = cross_section_scores(np.array([[1.0, 1.0, 1.0]]), "xs_zscore", 3)
    np.testing.assert_array_equal(same, [[0.0, 0.0, 0.0]])
    ts, count = cross_section_scores(values, "time_series", 3)
    np.testing.assert_array_equal(ts[1], values[1])        # no peers needed
    rng = np.random.default_rng(0)
    many = rng.integers(0, 5, (300, 9)).astype(float)
    many[rng.random(many.shape) < 0.3] = nan
    fast, _ = cross_section_scores(many, "xs_rank", 2)
    for t in range(many.shape[0]):
        row = many[t][np.isfinite(many[t])]
        for j in np.flatnonzero(np.isfinite(many[t])):
            if row.size < 2:
                continue
            expected = ((row < many[t, j]).sum() - (row > many[t, j]).sum()) / (row.size - 1)
            assert fast[t, j] == pytest.approx(expected, abs=1e-12)


def test_factor_returns_hand_computed() -> None:
    """The book formed at the close of t - 1 earns the returns of bar t; a gap in a held symbol makes
    the bar unknown; a flat book earns 0; too few symbols form no book."""
    nan = np.nan
    values = np.array([[[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [2.0, nan, 1.0], [1.0, 2.0, 3.0]]])
    returns = np.array([[0.0, 0.0, 0.0], [0.01, 0.02, -0.01], [0.03, 0.0, 0.01], [0.01, nan, 0.02]])
    out = factor_returns(values, returns, 2)[0]
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(0.5 * 0.01 - 0.5 * -0.01)          # weights 0.5, 0, -0.5
    assert out[2] == 0.0                                              # the book of bar 1 is flat
    assert out[3] == pytest.approx(0.5 * 0.01 - 0.5 * 0.02)          # symbol 1 unknown at bar 2: not held
    held_over_gap = np.array([[[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]])     # weights -0.5, 0.5, 0
    out = factor_returns(held_over_gap, returns[[0, 3]], 2)[0]
    assert np.isnan(out[1])                                           # symbol 1 held over a gap


def test_combination_and_books() -> None:
    nan = np.nan
    volatility = np.array([[0.01, nan], [0.02, 0.02]])
    weights = combination_weights(np.array([1.0, 1.0]), volatility)
    np.testing.assert_allclose(weights[:, 0], [2 / 3, 1 / 3])
    np.testing.assert_allclose(weights[:, 1], [nan, 1.0])
    values = np.array([[[1.0, nan, -1.0]], [[0.5, 0.5, nan]]])            # 2 signals, 1 bar, 3 symbols
    combined = combine(values, np.array([[0.75], [0.25]]))
    np.testing.assert_allclose(combined, [[0.875, 0.125, -0.75]])
    assert np.isnan(combine(np.full((2, 1, 1), nan), np.array([[0.5], [0.5]]))[0, 0])
    scores = np.array([[0.9, 0.1, -0.4, nan], [0.2, 0.2, 0.2, 0.2], [-0.1, -0.2, -0.3, nan], [3.0, 0.0, -3.0, nan]])
    neutral = book_weights(scores, "dollar_neutral", 1.0, 0.5, 3)
    np.testing.assert_allclose(neutral[0].sum(), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.abs(neutral[0]).sum(), 1.0)
    assert neutral[0, 3] == 0.0 and (neutral[1] == 0).all()             # unknown symbol: 0; equal scores: flat
    np.testing.assert_allclose(neutral[3], [0.5, 0.0, -0.5, 0.0])
    capped = book_weights(scores, "dollar_neutral", 1.0, 0.4, 3)
    np.testing.assert_allclose(capped[3], [0.4, 0.0, -0.4, 0.0])       # scaled down, shape kept
    long_only = book_weights(scores, "long_only", 1.0, 1.0, 3)
    np.testing.assert_allclose(long_only[0], [0.9, 0.1, 0.0, 0.0])
    assert (long_only[2] == 0).all()                                    # nothing positive: flat
    assert (book_weights(scores[:, :2], "dollar_neutral", 1.0, 1.0, 3) == 0).all()   # too few symbols


def test_decisions_are_held_until_the_next_one() -> None:
    bar_index = np.arange(10, 22)
    decision = rebalance_bars(bar_index, 4)                             # bars 11, 15, 19
    np.testing.assert_array_equal(np.flatnonzero(decision), [1, 5, 9])
    book = np.arange(12, dtype=float)[:, None] * np.ones((1, 2))
    held, decided = hold_decisions(book, decision)
    np.testing.assert_array_equal(decided, [-1, 1, 1, 1, 1, 5, 5, 5, 5, 9, 9, 9])
    np.testing.assert_array_equal(held[:, 0], [0, 1, 1, 1, 1, 5, 5, 5, 5, 9, 9, 9])
    values = np.array([[1.0, nan_value := np.nan, -2.0]])
    gated = gate(values, np.array([[True, True, False]]))
    assert gated[0, 0] == 1.0 and np.isnan(gated[0, 1]) and gated[0, 2] == 0.0 and np.isnan(nan_value)
