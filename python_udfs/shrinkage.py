"""Empirical-Bayes partial pooling of cell effects (random-effects / James-Stein shrinkage).

Discovery estimates thousands of small cells (event x symbol x horizon x rule x state); most are
noisy. The normal-normal model y_g ~ N(theta_g, v_g), theta_g ~ N(mu, tau2) shrinks each cell
toward a pooled mean by the weight w_g = tau2 / (tau2 + v_g): precise cells keep their own
estimate, noisy ones borrow from their group.

Conventions:
- tau2 estimators are truncated at 0 (a negative moment estimate means "no detectable
  heterogeneity"). They use only cells with finite effect and finite variance; negative variances
  raise. With no degrees of freedom left (k <= number of groups, e.g. k = 1) tau2 is 0.
- Zero variances: DerSimonian-Laird and Paule-Mandel are 1/v-weighted, so a zero variance is
  replaced by `ZERO_VARIANCE_FLOOR` x the smallest positive variance, which approximates the
  v -> 0 limit. If every variance is 0 the exact limit S / (k - p) is returned (S = sum of squared
  deviations from the group means).
- `groups` (optional) gives each effect a parent; the between-variance is then the spread of the
  effects around their own parent's mean (the method-of-moments / Paule-Mandel estimators of a
  meta-regression on parent indicators, df = k - p). Without groups this is the usual single-mean
  estimator, identical to statsmodels' `combine_effects` (after truncation at 0).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import optimize

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Tau2Method = Literal["dl", "pm"]

ZERO_VARIANCE_FLOOR = 1e-12
"""Zero variances become this multiple of the smallest positive variance inside tau2 estimators."""


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------

def _as_labels(labels: Sequence[Hashable] | npt.ArrayLike) -> list[Hashable]:
    """Plain list of hashable labels (numpy arrays become Python scalars, tuples stay tuples)."""
    if isinstance(labels, np.ndarray):
        return list(labels.reshape(-1).tolist())
    return list(labels)  # type: ignore[arg-type]


def _group_codes(groups: Sequence[Hashable] | npt.ArrayLike | None, size: int) -> tuple[IntArray, int]:
    """Dense integer codes 0..p-1 for hashable group labels (all 0 when `groups` is None)."""
    if groups is None:
        return np.zeros(size, dtype=np.int64), (1 if size else 0)
    labels = _as_labels(groups)
    if len(labels) != size:
        raise ValueError(f"groups has {len(labels)} labels, expected {size}")
    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(label, len(index)) for label in labels), dtype=np.int64, count=size)
    return codes, len(index)


def _estimation_inputs(
    effects: npt.ArrayLike, variances: npt.ArrayLike, groups: Sequence[Hashable] | npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, IntArray, int]:
    """Effects, variances and re-densified group codes of the cells usable for estimating tau2."""
    y = np.asarray(effects, dtype=np.float64).reshape(-1)
    v = np.asarray(variances, dtype=np.float64).reshape(-1)
    if y.shape != v.shape:
        raise ValueError(f"effects has shape {y.shape}, variances has shape {v.shape}")
    if np.any(v < 0):
        raise ValueError("variances must be >= 0")
    codes, _ = _group_codes(groups, y.size)
    keep = np.isfinite(y) & np.isfinite(v)
    kept_codes = codes[keep]
    uniq, dense = np.unique(kept_codes, return_inverse=True)
    return y[keep], v[keep], dense.astype(np.int64).reshape(-1), int(uniq.size)


def _group_mean(values: FloatArray, weights: FloatArray, codes: IntArray, n_groups: int) -> FloatArray:
    """Weighted mean of `values` within each group."""
    return np.bincount(codes, weights * values, n_groups) / np.bincount(codes, weights, n_groups)


def _within_ss(y: FloatArray, codes: IntArray, n_groups: int) -> float:
    """Unweighted sum of squared deviations from each group's plain mean."""
    means = _group_mean(y, np.ones_like(y), codes, n_groups)
    return float(np.sum((y - means[codes]) ** 2))


def _floored(v: FloatArray) -> FloatArray:
    """Variances with zeros lifted to ZERO_VARIANCE_FLOOR x the smallest positive one."""
    positive = v[v > 0]
    return np.maximum(v, ZERO_VARIANCE_FLOOR * positive.min())


# ----------------------------------------------------------------------------------------------
# Between-group variance
# ----------------------------------------------------------------------------------------------

def dersimonian_laird_tau2(
    effects: npt.ArrayLike, variances: npt.ArrayLike, groups: Sequence[Hashable] | npt.ArrayLike | None = None
) -> float:
    """DerSimonian-Laird moment estimate max(0, (Q - df) / c) of the between-cell variance.

    Q = sum w (y - ybar_group)^2 with w = 1/v, df = k - p, c = sum w - sum_groups (sum w^2 / sum w).
    Closed form and cheap; biased low when tau2 is large relative to v, hence `paule_mandel_tau2`.
    """
    y, v, codes, p = _estimation_inputs(effects, variances, groups)
    df = y.size - p
    if df <= 0:
        return 0.0
    if not np.any(v > 0):
        return _within_ss(y, codes, p) / df
    v = _floored(v)
    v_min = float(v.min())
    u = v_min / v  # relative weights in (0, 1]: w = u / v_min, so Q and c scale by 1/v_min
    sum_u = np.bincount(codes, u, p)
    ybar = _group_mean(y, u, codes, p)
    q_u = float(np.sum(u * (y - ybar[codes]) ** 2))
    # c_u = sum_i u_i * (sum of the other weights in i's group) / (group sum); computing "others" as
    # total - u_i cancels catastrophically for a dominant weight, so the group's largest member
    # gets its "others" summed directly.
    others = sum_u[codes] - u
    order = np.lexsort((-u, codes))
    is_first = np.r_[True, codes[order][1:] != codes[order][:-1]]
    top = order[is_first]
    u_without_top = u.copy()
    u_without_top[top] = 0.0
    others[top] = np.bincount(codes, u_without_top, p)[codes[top]]
    c_u = float(np.sum(u * others / sum_u[codes]))
    if c_u <= 0:
        return 0.0
    return max(0.0, (q_u - df * v_min) / c_u)


def paule_mandel_tau2(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    groups: Sequence[Hashable] | npt.ArrayLike | None = None,
    *,
    rtol: float = 1e-13,
) -> float:
    """Paule-Mandel estimate: the tau2 >= 0 solving sum w (y - mu_group(tau2))^2 = k - p.

    w = 1/(v + tau2) and mu_group the w-weighted group mean. The generalised Q is decreasing in
    tau2, so the root is bracketed in [0, S/(k - p)] (S = unweighted within-group sum of squares)
    and found with Brent's method; 0 when Q(0) <= k - p. Preferred over DL (Veroniki et al. 2016).
    """
    y, v, codes, p = _estimation_inputs(effects, variances, groups)
    df = y.size - p
    if df <= 0:
        return 0.0
    upper = _within_ss(y, codes, p) / df
    if upper <= 0:
        return 0.0
    if not np.any(v > 0):
        return upper  # Q(tau2) = S / tau2 exactly
    v = _floored(v)

    def excess_q(tau2: float) -> float:
        w = 1.0 / (v + tau2)
        scale = float(w.max())
        rel = w / scale
        mu = _group_mean(y, rel, codes, p)
        return float(np.sum(rel * (y - mu[codes]) ** 2)) * scale - df

    if excess_q(0.0) <= 0:
        return 0.0
    if excess_q(upper) >= 0:
        return upper
    return float(optimize.brentq(excess_q, 0.0, upper, xtol=rtol * upper, rtol=4 * np.finfo(float).eps))


def estimate_tau2(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    groups: Sequence[Hashable] | npt.ArrayLike | None = None,
    method: Tau2Method = "pm",
) -> float:
    """Dispatch to `paule_mandel_tau2` ('pm') or `dersimonian_laird_tau2` ('dl')."""
    if method == "pm":
        return paule_mandel_tau2(effects, variances, groups)
    if method == "dl":
        return dersimonian_laird_tau2(effects, variances, groups)
    raise ValueError(f"unknown tau2 method {method!r}; expected 'pm' or 'dl'")


# ----------------------------------------------------------------------------------------------
# Pooling and shrinkage
# ----------------------------------------------------------------------------------------------

class PooledMean(NamedTuple):
    """Random-effects (inverse-variance) mean and its variance."""

    mean: float
    variance: float


def pooled_mean(effects: npt.ArrayLike, variances: npt.ArrayLike, tau2: float) -> PooledMean:
    """mu = sum w y / sum w with w = 1/(v + tau2), Var(mu) = 1/sum w.

    Cells with NaN effect or variance are ignored. Cells with v + tau2 = 0 are exact: the mean is
    their plain average and the variance 0. No usable cell gives (NaN, inf).
    """
    y = np.asarray(effects, dtype=np.float64).reshape(-1)
    v = np.asarray(variances, dtype=np.float64).reshape(-1)
    keep = np.isfinite(y) & ~np.isnan(v)
    total = v[keep] + tau2
    exact = total == 0
    if exact.any():
        return PooledMean(float(y[keep][exact].mean()), 0.0)
    w = 1.0 / total
    if w.sum() == 0:
        return PooledMean(float("nan"), float("inf"))
    return PooledMean(float(np.sum(w * y[keep]) / w.sum()), float(1.0 / w.sum()))


class PartialPool(NamedTuple):
    """Shrunken estimates, shrinkage weights tau2/(tau2+v) and posterior variances (arrays)."""

    estimate: FloatArray
    weight: FloatArray
    variance: FloatArray


def shrinkage_weight(variances: npt.ArrayLike, tau2: float) -> FloatArray:
    """w = tau2 / (tau2 + v): the share of a cell's own deviation that survives shrinkage.

    v = 0 gives 1 (an exact cell is never shrunk, even when tau2 = 0); v = inf gives 0.
    """
    if not tau2 >= 0 or not np.isfinite(tau2):
        raise ValueError(f"tau2 must be finite and >= 0, got {tau2}")
    v = np.asarray(variances, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(v == 0, 1.0, tau2 / (tau2 + v))
    return np.where(np.isinf(v), 0.0, w)


def partial_pool(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    tau2: float,
    prior_mean: npt.ArrayLike,
    prior_var: npt.ArrayLike = 0.0,
) -> PartialPool:
    """Posterior of theta_g under y_g ~ N(theta_g, v_g), theta_g ~ N(prior_mean, tau2).

    estimate = prior_mean + w (y - prior_mean), w = tau2 / (tau2 + v).
    variance = w v (= 1/(1/tau2 + 1/v); tau2 when v = inf) + (1 - w)^2 prior_var, the second term
    being Morris's correction for an estimated prior mean (pass Var(mu_hat); default 0 treats the
    prior mean as known). prior_mean / prior_var broadcast against effects. NaN effect or variance
    gives NaN in all three outputs.
    """
    y = np.asarray(effects, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if np.any(v < 0):
        raise ValueError("variances must be >= 0")
    mu = np.asarray(prior_mean, dtype=np.float64)
    mu_var = np.asarray(prior_var, dtype=np.float64)
    y, v, mu, mu_var = np.broadcast_arrays(y, v, mu, mu_var)
    w = shrinkage_weight(v, tau2)
    missing = np.isnan(y) | np.isnan(v)
    with np.errstate(invalid="ignore"):
        estimate = np.where(w == 0, mu, np.where(w == 1, y, mu + w * (y - mu)))
        conditional = np.where(np.isinf(v), tau2, w * v)
    variance = conditional + (1.0 - w) ** 2 * mu_var
    nan = np.nan
    return PartialPool(
        np.where(missing, nan, estimate), np.where(missing, nan, w), np.where(missing, nan, variance)
    )


# ----------------------------------------------------------------------------------------------
# Hierarchical pooling along nested levels
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LevelPool:
    """One level of the tree. Node arrays are indexed by node; `cell_node` maps cells to nodes.

    raw_mean / raw_var: the node's estimate from the data below it alone (upward pass).
    weight: tau2 / (tau2 + raw_var), the node's shrinkage weight toward its parent.
    post_mean / post_var: the node's posterior given all cells (downward pass).
    """

    name: str
    tau2: float
    keys: list[tuple[Hashable, ...]]
    parent: IntArray
    raw_mean: FloatArray
    raw_var: FloatArray
    weight: FloatArray
    post_mean: FloatArray
    post_var: FloatArray
    cell_node: IntArray

    def per_cell(self, values: FloatArray) -> FloatArray:
        """Broadcast a node array to cells (NaN for cells that were not usable)."""
        out = np.full(self.cell_node.shape, np.nan)
        ok = self.cell_node >= 0
        out[ok] = values[self.cell_node[ok]]
        return out


@dataclass(frozen=True)
class HierarchicalPool:
    """Result of `hierarchical_pool`: the root (global) estimate and one `LevelPool` per level,
    coarsest first, the last one being the cells themselves (node i = cell i)."""

    global_mean: float
    global_var: float
    levels: list[LevelPool]

    @property
    def cells(self) -> LevelPool:
        """The cell level (posterior mean / variance / weight of each input cell)."""
        return self.levels[-1]


def _combine(means: FloatArray, variances: FloatArray, codes: IntArray, n_groups: int) -> tuple[FloatArray, FloatArray]:
    """Per-group inverse-variance combination; groups with an exact (zero-variance) member are
    the plain mean of their exact members with variance 0."""
    exact = variances == 0
    with np.errstate(divide="ignore"):
        prec = np.where(exact, 0.0, 1.0 / variances)
    total = np.bincount(codes, prec, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(codes, prec * means, n_groups) / total
        var = 1.0 / total
    n_exact = np.bincount(codes, exact.astype(np.float64), n_groups)
    has_exact = n_exact > 0
    if has_exact.any():
        exact_mean = np.bincount(codes, np.where(exact, means, 0.0), n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(has_exact, exact_mean / n_exact, mean)
        var = np.where(has_exact, 0.0, var)
    return mean, var


def hierarchical_pool(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    levels: Sequence[Sequence[Hashable] | npt.ArrayLike],
    *,
    level_names: Sequence[str] | None = None,
    method: Tau2Method = "pm",
    tau2: Sequence[float] | None = None,
) -> HierarchicalPool:
    """Empirical-Bayes shrinkage of cells along nested levels, e.g. global -> family -> event -> state -> cell.

    Model. `levels` holds one label array per level, coarsest first, each with one label per
    cell; a node at depth d is a distinct tuple (labels_1, ..., labels_d), so labels only need to
    be unique within their parent. With theta_root = mu (flat prior):
        theta_node ~ N(theta_parent, tau2_d)   for each node at depth d = 1..D,
        theta_cell ~ N(theta_deepest_node, tau2_cell),   y_cell ~ N(theta_cell, v_cell).

    Estimation, bottom-up. tau2_cell is estimated (Paule-Mandel by default, or DerSimonian-Laird)
    from the cells' spread around their own deepest node (grouped estimator, df = k - p). Each
    node's data-only estimate is the random-effects combination of its children,
        raw_var = 1 / sum 1/(raw_var_child + tau2_child),  raw_mean = precision-weighted mean,
    and tau2 of that level is estimated from those node estimates grouped by their parents, up to
    the root, whose raw estimate is the global mean. Pass `tau2` (one value per level plus one for
    the cells, coarsest first) to skip estimation.

    Shrinkage, top-down. Each node (and finally each cell) is pulled toward its parent's
    posterior mean with weight w = tau2 / (tau2 + raw_var):
        post_mean = parent_post + w (raw_mean - parent_post),
        post_var  = w raw_var + (1 - w)^2 parent_post_var.
    Given the tau2 values this is the exact Gaussian posterior of the tree model (upward
    messages + downward smoothing), not an approximation; uncertainty in the tau2s is ignored.
    A parent with one child contributes no degrees of freedom; if every parent at a level has one
    child that level's tau2 is 0 and the child coincides with its parent.

    Cells whose effect or variance is not finite are left out and get NaN (node index -1).
    """
    y_all = np.asarray(effects, dtype=np.float64).reshape(-1)
    v_all = np.asarray(variances, dtype=np.float64).reshape(-1)
    if y_all.shape != v_all.shape:
        raise ValueError(f"effects has shape {y_all.shape}, variances has shape {v_all.shape}")
    if np.any(v_all < 0):
        raise ValueError("variances must be >= 0")
    n_cells = y_all.size
    label_lists = [_as_labels(lv) for lv in levels]
    for depth, labels in enumerate(label_lists):
        if len(labels) != n_cells:
            raise ValueError(f"level {depth} has {len(labels)} labels, expected {n_cells}")
    depth_count = len(label_lists)
    names = list(level_names) if level_names is not None else [f"level_{d + 1}" for d in range(depth_count)]
    if len(names) != depth_count:
        raise ValueError(f"{len(names)} level names for {depth_count} levels")
    names.append("cell")
    if tau2 is not None and len(tau2) != depth_count + 1:
        raise ValueError(f"tau2 needs {depth_count + 1} values (levels + cells), got {len(tau2)}")

    usable = np.flatnonzero(np.isfinite(y_all) & np.isfinite(v_all))

    # Node structure: keys per depth, each usable cell's node per depth, each node's parent.
    keys: list[list[tuple[Hashable, ...]]] = []
    cell_nodes: list[IntArray] = []
    parents: list[IntArray] = []
    prev_cell_node = np.zeros(usable.size, dtype=np.int64)
    parent_keys: list[tuple[Hashable, ...]] = [()]
    for depth in range(depth_count):
        index: dict[tuple[int, Hashable], int] = {}
        node_parent: list[int] = []
        node_keys: list[tuple[Hashable, ...]] = []
        nodes = np.empty(usable.size, dtype=np.int64)
        labels = label_lists[depth]
        for j, i in enumerate(usable):
            parent = int(prev_cell_node[j])
            node = index.get((parent, labels[i]))
            if node is None:
                node = index[(parent, labels[i])] = len(index)
                node_parent.append(parent)
                node_keys.append(parent_keys[parent] + (labels[i],))
            nodes[j] = node
        keys.append(node_keys)
        parent_keys = node_keys
        cell_nodes.append(nodes)
        parents.append(np.asarray(node_parent, dtype=np.int64))
        prev_cell_node = nodes
    keys.append([(int(i),) for i in usable])
    cell_nodes.append(np.arange(usable.size, dtype=np.int64))
    parents.append(prev_cell_node.copy())

    # Upward pass: tau2 and data-only estimates, finest level first.
    raw_means: list[FloatArray] = [np.empty(0)] * (depth_count + 1)
    raw_vars: list[FloatArray] = [np.empty(0)] * (depth_count + 1)
    tau2s: list[float] = [0.0] * (depth_count + 1)
    raw_means[-1], raw_vars[-1] = y_all[usable], v_all[usable]
    for lvl in range(depth_count, -1, -1):
        parent_codes = parents[lvl]
        n_parents = len(keys[lvl - 1]) if lvl > 0 else (1 if usable.size else 0)
        tau2s[lvl] = float(tau2[lvl]) if tau2 is not None else estimate_tau2(
            raw_means[lvl], raw_vars[lvl], parent_codes, method
        )
        combined = _combine(raw_means[lvl], raw_vars[lvl] + tau2s[lvl], parent_codes, n_parents)
        if lvl > 0:
            raw_means[lvl - 1], raw_vars[lvl - 1] = combined
        else:
            root_mean, root_var = combined
    global_mean = float(root_mean[0]) if usable.size else float("nan")
    global_var = float(root_var[0]) if usable.size else float("nan")

    # Downward pass: shrink each level toward its parent's posterior.
    out: list[LevelPool] = []
    parent_post_mean = np.array([global_mean])
    parent_post_var = np.array([global_var])
    for lvl in range(depth_count + 1):
        pooled = partial_pool(
            raw_means[lvl], raw_vars[lvl], tau2s[lvl],
            parent_post_mean[parents[lvl]], parent_post_var[parents[lvl]],
        )
        full_cell_node = np.full(n_cells, -1, dtype=np.int64)
        full_cell_node[usable] = cell_nodes[lvl]
        out.append(LevelPool(
            name=names[lvl], tau2=tau2s[lvl], keys=keys[lvl], parent=parents[lvl],
            raw_mean=raw_means[lvl], raw_var=raw_vars[lvl], weight=pooled.weight,
            post_mean=pooled.estimate, post_var=pooled.variance, cell_node=full_cell_node,
        ))
        parent_post_mean, parent_post_var = pooled.estimate, pooled.variance

    # Report the cell level in input order (NaN for unusable cells).
    cells = out[-1]
    out[-1] = LevelPool(
        name=cells.name, tau2=cells.tau2, keys=[(i,) for i in range(n_cells)],
        parent=_scatter_int(cells.parent, usable, n_cells),
        raw_mean=y_all.copy(), raw_var=v_all.copy(),
        weight=_scatter(cells.weight, usable, n_cells), post_mean=_scatter(cells.post_mean, usable, n_cells),
        post_var=_scatter(cells.post_var, usable, n_cells),
        cell_node=np.where(np.isin(np.arange(n_cells), usable), np.arange(n_cells), -1).astype(np.int64),
    )
    return HierarchicalPool(global_mean=global_mean, global_var=global_var, levels=out)


def _scatter(values: FloatArray, positions: IntArray, size: int) -> FloatArray:
    """Place `values` at `positions` of a NaN array of length `size`."""
    out = np.full(size, np.nan)
    out[positions] = values
    return out


def _scatter_int(values: IntArray, positions: IntArray, size: int) -> IntArray:
    """Place `values` at `positions` of a -1 array of length `size`."""
    out = np.full(size, -1, dtype=np.int64)
    out[positions] = values
    return out
