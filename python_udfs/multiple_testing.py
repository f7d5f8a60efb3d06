"""False-discovery-rate adjusted p-values (q-values) for the phase 2 hypothesis gate.

Benjamini-Hochberg (1995) controls the FDR under independence or positive dependence (PRDS);
Benjamini-Yekutieli (2001) divides the level by c(m) = sum_{i<=m} 1/i and holds under arbitrary
dependence. Discovery reports both: BH as the gate, BY as the dependence-robust sensitivity column.

Conventions (shared by every function here):
- NaN p-values are "no test": they stay NaN in the output and are not counted in m.
- Adjusted values are the step-up cumulative minimum from the largest p down, capped at 1, so they
  are monotone in p and tied p-values get the same q whatever their input order.
- p-values outside [0, 1] are an upstream bug and raise ValueError rather than being clipped.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Method = Literal["bh", "by"]


def _as_pvalues(p: npt.ArrayLike) -> FloatArray:
    """Validated 1-d float copy of `p` (NaN allowed, anything else outside [0, 1] rejected)."""
    arr = np.atleast_1d(np.asarray(p, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"p-values must be 1-d, got shape {arr.shape}")
    finite = arr[~np.isnan(arr)]
    if np.any((finite < 0.0) | (finite > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (NaN marks a missing test)")
    return arr


def _step_up(p: FloatArray, dependence_factor: float) -> FloatArray:
    """min_{j >= i} min(1, factor * m * p_(j) / j) on the sorted finite p, mapped back to input order."""
    m = p.size
    order = np.argsort(p, kind="stable")
    ranks = np.arange(1, m + 1, dtype=np.float64)
    scaled = dependence_factor * m * p[order] / ranks
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.minimum(adjusted_sorted, 1.0)
    return out


def _adjust(p: npt.ArrayLike, method: Method) -> FloatArray:
    """Adjusted p-values of the finite entries of `p`; NaN entries stay NaN and do not count in m."""
    arr = _as_pvalues(p)
    out = np.full(arr.shape, np.nan)
    valid = ~np.isnan(arr)
    m = int(valid.sum())
    if m == 0:
        return out
    if method == "bh":
        factor = 1.0
    elif method == "by":
        factor = float(np.sum(1.0 / np.arange(1, m + 1)))
    else:
        raise ValueError(f"unknown method {method!r}; expected 'bh' or 'by'")
    out[valid] = _step_up(arr[valid], factor)
    return out


def bh_qvalues(p: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values: q_(i) = min_{j>=i} min(1, m p_(j) / j).

    Rejecting every hypothesis with q <= alpha is exactly the BH step-up procedure at level alpha.
    """
    return _adjust(p, "bh")


def by_qvalues(p: npt.ArrayLike) -> FloatArray:
    """Benjamini-Yekutieli adjusted p-values: BH with m replaced by m * c(m), c(m) = sum 1/i.

    Valid under arbitrary dependence between tests (overlapping horizons, correlated symbols).
    """
    return _adjust(p, "by")


def rejections(q: npt.ArrayLike, alpha: float) -> BoolArray:
    """Boolean rejection mask q <= alpha; NaN q (no test) is never a rejection."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    arr = np.asarray(q, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(~np.isnan(arr) & (arr <= alpha), dtype=np.bool_)


def qvalues_by_group(p: npt.ArrayLike, groups: Sequence[Hashable], method: Method = "bh") -> FloatArray:
    """Adjusted p-values computed separately within each group (m = finite tests in that group).

    Discovery controls the FDR per family of hypotheses, e.g. (family, event, template, horizon),
    rather than across the whole candidate table. `groups` holds one hashable label per p-value
    (tuples are fine).
    """
    arr = _as_pvalues(p)
    labels = list(groups)
    if len(labels) != arr.size:
        raise ValueError(f"groups has {len(labels)} labels, p has {arr.size} values")
    members: dict[Hashable, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    out = np.full(arr.shape, np.nan)
    for idx in members.values():
        out[idx] = _adjust(arr[idx], method)
    return out
