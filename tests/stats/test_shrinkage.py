"""tau2 estimators against statsmodels' meta-analysis, the grouped estimators against their
matrix (meta-regression) form, and the hierarchical pool against a brute-force joint Gaussian
posterior."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from python_udfs.shrinkage import (
    ZERO_VARIANCE_FLOOR,
    dersimonian_laird_tau2,
    estimate_tau2,
    hierarchical_pool,
    paule_mandel_tau2,
    partial_pool,
    pooled_mean,
    shrinkage_weight,
)


def _meta_inputs(rng: np.random.Generator, k: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """k cell effects with sampling variances in [0.01, 0.5] and true spread tau."""
    v = rng.uniform(0.01, 0.5, k)
    return rng.normal(0.3, tau, k) + rng.normal(0, np.sqrt(v)), v


def _statsmodels_tau2(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """statsmodels' tau2. Its Paule-Mandel loop resets tau2 to 0 whenever the estimating equation
    turns negative, which rounding does once it is converged below ~1e-13, so its default
    atol (1e-5 on the equation, a tau2 error far below the rtol used here) must be kept."""
    meta = pytest.importorskip("statsmodels.stats.meta_analysis")
    kwds = {"maxiter": 1000} if method == "pm" else {}
    return float(meta.combine_effects(y, v, method_re=method, **kwds).tau2)


def _exact_dl_tau2(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird in exact rational arithmetic (no cancellation for extreme weights)."""
    ys = [Fraction(float(a)) for a in y]
    ws = [1 / Fraction(float(b)) for b in v]
    sw = sum(ws)
    ybar = sum(w * a for w, a in zip(ws, ys)) / sw
    q = sum(w * (a - ybar) ** 2 for w, a in zip(ws, ys))
    c = sw - sum(w * w for w in ws) / sw
    return max(0.0, float((q - (len(ys) - 1)) / c))


CASES = [(k, tau, seed) for k in (2, 3, 5, 20, 200) for tau in (0.0, 0.3, 1.5) for seed in (1, 2)]


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")  # statsmodels, tau2 < 0
@pytest.mark.parametrize(("k", "tau", "seed"), CASES)
def test_dersimonian_laird_matches_statsmodels(k: int, tau: float, seed: int) -> None:
    y, v = _meta_inputs(np.random.default_rng(seed * 100 + k), k, tau)
    expected = max(0.0, _statsmodels_tau2(y, v, "dl"))  # statsmodels does not truncate DL at 0
    np.testing.assert_allclose(dersimonian_laird_tau2(y, v), expected, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(("k", "tau", "seed"), CASES)
def test_paule_mandel_matches_statsmodels(k: int, tau: float, seed: int) -> None:
    meta = pytest.importorskip("statsmodels.stats.meta_analysis")
    y, v = _meta_inputs(np.random.default_rng(seed * 100 + k), k, tau)
    tau2 = paule_mandel_tau2(y, v)
    # statsmodels stops once the equation is within 1e-5, so agreement is only to ~1e-5
    np.testing.assert_allclose(tau2, _statsmodels_tau2(y, v, "pm"), rtol=1e-4, atol=1e-9)
    if tau2 > 0:  # sharper: at our tau2 statsmodels' own weighted Q / (k - 1) (HKSJ scale) is 1
        at_ours = meta.combine_effects(y, v, method_re="pm", tau2_start=tau2, maxiter=0)
        np.testing.assert_allclose(at_ours.scale_hksj_re, 1.0, rtol=1e-10)


def test_some_cases_have_positive_tau2() -> None:
    """Guard against the comparisons above passing only because everything truncates to 0."""
    y, v = _meta_inputs(np.random.default_rng(5), 20, 1.5)
    assert dersimonian_laird_tau2(y, v) > 0.5 and paule_mandel_tau2(y, v) > 0.5


@pytest.mark.parametrize("method", ["dl", "pm"])
def test_pooled_mean_matches_statsmodels(method: str) -> None:
    meta = pytest.importorskip("statsmodels.stats.meta_analysis")
    y, v = _meta_inputs(np.random.default_rng(44), 12, 0.8)
    tau2 = estimate_tau2(y, v, method=method)
    res = meta.combine_effects(y, v, method_re=method)
    assert tau2 > 0.1
    pooled = pooled_mean(y, v, tau2)
    np.testing.assert_allclose(pooled.mean, res.mean_effect_re, rtol=1e-6)
    np.testing.assert_allclose(pooled.variance, res.var_eff_w_re, rtol=1e-6)


@pytest.mark.parametrize("func", [dersimonian_laird_tau2, paule_mandel_tau2])
def test_degenerate_sizes_and_equal_effects(func) -> None:
    assert func([0.4], [0.1]) == 0.0  # k = 1: no between-cell information
    assert func([], []) == 0.0
    assert func([0.2] * 6, [0.1, 0.2, 0.05, 1.0, 0.3, 0.01]) == 0.0
    assert func([0.2, np.nan, 0.5], [0.1, 0.1, np.nan]) == 0.0  # only one usable cell


@pytest.mark.parametrize(("func", "method"), [(dersimonian_laird_tau2, "dl"), (paule_mandel_tau2, "pm")])
def test_zero_variance_is_the_floored_limit(func, method: str) -> None:
    rng = np.random.default_rng(8)
    y, v = _meta_inputs(rng, 10, 0.5)
    v[3] = 0.0
    tau2 = func(y, v)
    assert np.isfinite(tau2) and tau2 >= 0
    floored = v.copy()
    floored[3] = ZERO_VARIANCE_FLOOR * v[v > 0].min()
    if method == "dl":  # statsmodels' c = sum w - sum w^2 / sum w cancels at weight ratio 1e12
        np.testing.assert_allclose(tau2, _exact_dl_tau2(y, floored), rtol=1e-9)
    else:
        np.testing.assert_allclose(tau2, _statsmodels_tau2(y, floored, method), rtol=1e-7)
    nearly = v.copy()
    nearly[3] = 1e-15 * v[v > 0].min()  # continuity: the v -> 0 limit
    np.testing.assert_allclose(tau2, func(y, nearly), rtol=1e-6)


@pytest.mark.parametrize("func", [dersimonian_laird_tau2, paule_mandel_tau2])
def test_all_zero_variances_give_the_sample_variance(func) -> None:
    y = np.array([0.1, 0.4, -0.2, 0.3])
    np.testing.assert_allclose(func(y, np.zeros(4)), np.var(y, ddof=1), rtol=1e-12)
    assert func([1.0, 2.0, 2.5], [0.0, 0.0, 0.3]) > 0  # two exact, disagreeing cells: finite, positive


@pytest.mark.parametrize("func", [dersimonian_laird_tau2, paule_mandel_tau2])
def test_nan_cells_are_ignored_and_negative_variance_raises(func) -> None:
    y, v = _meta_inputs(np.random.default_rng(3), 15, 0.7)
    y_nan = np.append(y, [np.nan, 0.3])
    v_nan = np.append(v, [0.1, np.nan])
    assert func(y_nan, v_nan) == func(y, v)
    with pytest.raises(ValueError):
        func([0.1, 0.2], [0.1, -0.1])


def _grouped_matrix_q(y: np.ndarray, v: np.ndarray, groups: np.ndarray, tau2: float) -> tuple[float, float]:
    """Meta-regression on group indicators: Q = y'Py and c = tr(W) - tr((X'WX)^-1 X'W^2X)."""
    x = (groups[:, None] == np.unique(groups)[None, :]).astype(float)
    w = np.diag(1.0 / (v + tau2))
    xtwx_inv = np.linalg.inv(x.T @ w @ x)
    proj = w - w @ x @ xtwx_inv @ x.T @ w
    return float(y @ proj @ y), float(np.trace(w) - np.trace(xtwx_inv @ x.T @ w @ w @ x))


def test_grouped_dersimonian_laird_matches_matrix_form() -> None:
    rng = np.random.default_rng(13)
    groups = np.repeat(np.arange(6), [2, 3, 5, 1, 8, 4])
    centers = rng.normal(0, 2, 6)[groups]
    y, v = _meta_inputs(rng, groups.size, 0.6)
    y = y + centers
    q, c = _grouped_matrix_q(y, v, groups, 0.0)
    df = groups.size - 6
    np.testing.assert_allclose(dersimonian_laird_tau2(y, v, groups), max(0.0, (q - df) / c), rtol=1e-10)
    # group centers are removed: ungrouped tau2 absorbs them, grouped does not
    assert dersimonian_laird_tau2(y, v) > 2 * dersimonian_laird_tau2(y, v, groups)


def test_grouped_paule_mandel_solves_the_generalised_q_equation() -> None:
    rng = np.random.default_rng(14)
    groups = np.repeat(np.array(["a", "b", "c", "d"]), [3, 4, 6, 7])
    y, v = _meta_inputs(rng, groups.size, 0.8)
    y = y + rng.normal(0, 3, 4)[np.searchsorted(np.unique(groups), groups)]
    tau2 = paule_mandel_tau2(y, v, groups)
    assert tau2 > 0
    q, _ = _grouped_matrix_q(y, v, groups, tau2)
    np.testing.assert_allclose(q, groups.size - 4, rtol=1e-9)


@pytest.mark.parametrize("func", [dersimonian_laird_tau2, paule_mandel_tau2])
def test_single_group_equals_ungrouped(func) -> None:
    y, v = _meta_inputs(np.random.default_rng(15), 9, 0.5)
    np.testing.assert_allclose(func(y, v, ["x"] * 9), func(y, v), rtol=1e-12)
    assert func(y, v, list(range(9))) == 0.0  # one cell per group: no degrees of freedom


def test_tau2_is_non_negative_on_random_inputs() -> None:
    rng = np.random.default_rng(16)
    for _ in range(100):
        k = int(rng.integers(1, 30))
        y, v = _meta_inputs(rng, k, float(rng.choice([0.0, 0.1, 1.0])))
        groups = rng.integers(0, 3, k)
        for method in ("dl", "pm"):
            assert estimate_tau2(y, v, None, method) >= 0
            assert estimate_tau2(y, v, groups, method) >= 0


def test_partial_pool_properties() -> None:
    rng = np.random.default_rng(17)
    for _ in range(50):
        k = 40
        y = rng.normal(0, 2, k)
        v = rng.uniform(0, 3, k)
        v[:3] = [0.0, np.inf, 1e-12]
        tau2 = float(rng.uniform(0, 2))
        prior = float(rng.normal())
        res = partial_pool(y, v, tau2, prior, prior_var=0.1)
        assert np.all((res.weight >= 0) & (res.weight <= 1))
        lo, hi = np.minimum(y, prior), np.maximum(y, prior)
        assert np.all((res.estimate >= lo - 1e-12) & (res.estimate <= hi + 1e-12))
        np.testing.assert_allclose(res.weight, tau2 / (tau2 + np.where(np.isinf(v), np.inf, v)))
        finite = np.isfinite(v)
        assert np.all(res.variance[finite] <= v[finite] + 0.1 + 1e-12)
        assert res.estimate[0] == y[0] and res.weight[0] == 1.0  # exact cell is kept
        assert res.estimate[1] == prior and res.weight[1] == 0.0  # no information: the prior
        np.testing.assert_allclose(res.variance[1], tau2 + 0.1)


def test_shrinkage_weight_limits() -> None:
    np.testing.assert_allclose(shrinkage_weight([1e-300, 1e300], 0.5), [1.0, 0.0], atol=1e-12)
    assert shrinkage_weight(0.0, 0.0) == 1.0
    with pytest.raises(ValueError):
        shrinkage_weight([0.1], -1.0)


def test_partial_pool_formula_and_nan() -> None:
    res = partial_pool([1.0, np.nan, 3.0], [1.0, 1.0, np.nan], 3.0, 0.0, 0.5)
    np.testing.assert_allclose(res.weight[0], 0.75)
    np.testing.assert_allclose(res.estimate[0], 0.75)
    np.testing.assert_allclose(res.variance[0], 0.75 * 1.0 + 0.25**2 * 0.5)
    assert np.isnan(res.estimate[1:]).all() and np.isnan(res.weight[1:]).all()


def test_shrinkage_reduces_mean_squared_error() -> None:
    rng = np.random.default_rng(18)
    theta = rng.normal(0.5, 0.4, 500)
    v = rng.uniform(0.05, 1.0, 500)
    y = theta + rng.normal(0, np.sqrt(v))
    tau2 = paule_mandel_tau2(y, v)
    mu = pooled_mean(y, v, tau2)
    shrunk = partial_pool(y, v, tau2, mu.mean, mu.variance).estimate
    assert np.mean((shrunk - theta) ** 2) < 0.6 * np.mean((y - theta) ** 2)
    np.testing.assert_allclose(tau2, 0.16, rtol=0.35)


# ---------------------------------------------------------------------------------------------
# Hierarchical pooling
# ---------------------------------------------------------------------------------------------

def _nested_design(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """global -> 3 families -> 2-3 events each (labels reused across families) -> 1-4 cells."""
    fam, evt = [], []
    for f in range(3):
        for e in range(int(rng.integers(2, 4))):
            n = int(rng.integers(1, 5))
            fam += [f"fam{f}"] * n
            evt += [f"ev{e}"] * n
    k = len(fam)
    v = rng.uniform(0.05, 0.8, k)
    return rng.normal(0, 1, k), v, [np.array(fam), np.array(evt)]


def _brute_force_posterior(y, v, levels, tau2):
    """Joint Gaussian posterior of z = (mu, node effects by level, cell effects), flat prior on mu."""
    k = y.size
    cols, prior_prec, node_cols = [np.ones((k, 1))], [0.0], []
    for depth in range(len(levels)):
        keys = [tuple(levels[d][i] for d in range(depth + 1)) for i in range(k)]
        uniq = list(dict.fromkeys(keys))
        z = np.array([[key == u for u in uniq] for key in keys], dtype=float)
        cols.append(z)
        prior_prec += [1.0 / tau2[depth]] * len(uniq)
        node_cols.append((uniq, z))
    cols.append(np.eye(k))
    prior_prec += [1.0 / tau2[-1]] * k
    a = np.hstack(cols)  # cell theta = a @ z
    prec = np.diag(prior_prec) + a.T @ np.diag(1.0 / v) @ a
    cov = np.linalg.inv(prec)
    mean = cov @ a.T @ (y / v)
    out = {"mu": (mean[0], cov[0, 0]), "cell": (a @ mean, np.einsum("ij,jk,ik->i", a, cov, a))}
    for depth, (uniq, _) in enumerate(node_cols):
        # node theta = mu + its own and its ancestors' effects; deeper levels and cells get 0
        ancestors = [np.array([[u[: d + 1] == w for w in node_cols[d][0]] for u in uniq], dtype=float)
                     for d in range(depth + 1)]
        n_rest = a.shape[1] - 1 - sum(m.shape[1] for m in ancestors)
        b = np.hstack([np.ones((len(uniq), 1)), *ancestors, np.zeros((len(uniq), n_rest))])
        out[depth] = (uniq, b @ mean, np.einsum("ij,jk,ik->i", b, cov, b))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hierarchical_pool_is_the_exact_tree_posterior(seed: int) -> None:
    y, v, levels = _nested_design(np.random.default_rng(seed))
    tau2 = [0.5, 0.2, 0.1]
    res = hierarchical_pool(y, v, levels, level_names=["family", "event"], tau2=tau2)
    ref = _brute_force_posterior(y, v, levels, tau2)
    np.testing.assert_allclose(res.global_mean, ref["mu"][0], rtol=1e-9)
    np.testing.assert_allclose(res.global_var, ref["mu"][1], rtol=1e-9)
    np.testing.assert_allclose(res.cells.post_mean, ref["cell"][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.cells.post_var, ref["cell"][1], rtol=1e-9)
    for depth in range(2):
        keys, mean, var = ref[depth]
        level = res.levels[depth]
        order = [level.keys.index(key) for key in keys]
        np.testing.assert_allclose(level.post_mean[order], mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(level.post_var[order], var, rtol=1e-9)
    assert [lv.name for lv in res.levels] == ["family", "event", "cell"]


def test_hierarchical_estimates_tau2_level_by_level() -> None:
    rng = np.random.default_rng(21)
    n_fam, n_evt, n_cell = 30, 4, 5
    fam = np.repeat(np.arange(n_fam), n_evt * n_cell)
    evt = np.tile(np.repeat(np.arange(n_evt), n_cell), n_fam)
    theta = (rng.normal(0, 1.0, n_fam)[fam] + rng.normal(0, 0.5, n_fam * n_evt)[fam * n_evt + evt]
             + rng.normal(0, 0.2, fam.size))
    v = rng.uniform(0.01, 0.05, fam.size)
    y = theta + rng.normal(0, np.sqrt(v))
    res = hierarchical_pool(y, v, [fam, evt], method="pm")
    # cell level: spread of cells around their own event, grouped Paule-Mandel
    np.testing.assert_allclose(res.cells.tau2, paule_mandel_tau2(y, v, list(zip(fam, evt))), rtol=1e-12)
    event = res.levels[1]
    np.testing.assert_allclose(event.tau2, paule_mandel_tau2(event.raw_mean, event.raw_var, event.parent), rtol=1e-12)
    family = res.levels[0]
    np.testing.assert_allclose(family.tau2, paule_mandel_tau2(family.raw_mean, family.raw_var), rtol=1e-12)
    np.testing.assert_allclose([family.tau2, event.tau2, res.cells.tau2], [1.0, 0.25, 0.04], rtol=0.4)
    # event raw estimates are the random-effects combination of their cells
    e0 = (fam == 0) & (evt == 0)
    w = 1.0 / (v[e0] + res.cells.tau2)
    np.testing.assert_allclose(event.raw_mean[event.keys.index((0, 0))], np.sum(w * y[e0]) / w.sum(), rtol=1e-12)
    assert np.all((event.weight >= 0) & (event.weight <= 1))
    np.testing.assert_allclose(event.per_cell(event.weight)[e0], event.weight[event.keys.index((0, 0))])


def test_hierarchical_without_levels_is_single_level_partial_pooling() -> None:
    y, v = _meta_inputs(np.random.default_rng(22), 25, 0.6)
    res = hierarchical_pool(y, v, [], method="dl")
    tau2 = dersimonian_laird_tau2(y, v)
    mu = pooled_mean(y, v, tau2)
    expected = partial_pool(y, v, tau2, mu.mean, mu.variance)
    np.testing.assert_allclose(res.global_mean, mu.mean, rtol=1e-12)
    np.testing.assert_allclose(res.cells.post_mean, expected.estimate, rtol=1e-12)
    np.testing.assert_allclose(res.cells.post_var, expected.variance, rtol=1e-12)
    np.testing.assert_allclose(res.cells.weight, expected.weight, rtol=1e-12)


def test_hierarchical_unique_last_level_and_missing_cells() -> None:
    rng = np.random.default_rng(23)
    y, v, levels = _nested_design(rng)
    cell_ids = np.arange(y.size).astype(str)
    res = hierarchical_pool(y, v, [*levels, cell_ids])
    assert res.cells.tau2 == 0.0  # one cell per last-level node: the cell is its node
    state = res.levels[2]
    np.testing.assert_allclose(res.cells.post_mean, state.per_cell(state.post_mean), rtol=1e-12)

    y_nan, v_nan = y.copy(), v.copy()
    y_nan[2], v_nan[5] = np.nan, np.nan
    keep = np.ones(y.size, dtype=bool)
    keep[[2, 5]] = False
    with_nan = hierarchical_pool(y_nan, v_nan, levels)
    dropped = hierarchical_pool(y[keep], v[keep], [lv[keep] for lv in levels])
    assert np.isnan(with_nan.cells.post_mean[[2, 5]]).all()
    assert (with_nan.cells.cell_node[[2, 5]] == -1).all()
    np.testing.assert_allclose(with_nan.cells.post_mean[keep], dropped.cells.post_mean, rtol=1e-12)
    assert np.isnan(with_nan.levels[0].per_cell(with_nan.levels[0].weight)[[2, 5]]).all()


def test_hierarchical_handles_zero_variance_cells() -> None:
    y = np.array([0.1, 0.5, 0.3, -0.2, 0.4])
    v = np.array([0.0, 0.1, 0.2, 0.1, 0.0])
    res = hierarchical_pool(y, v, [np.array(["a", "a", "a", "b", "b"])])
    assert np.isfinite(res.cells.post_mean).all() and np.isfinite(res.global_mean)
    np.testing.assert_allclose(res.cells.post_mean[[0, 4]], y[[0, 4]])  # exact cells are kept
    np.testing.assert_allclose(res.cells.post_var[[0, 4]], 0.0)
