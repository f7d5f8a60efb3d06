"""Population stability index (PSI): has a feature's distribution drifted between two windows?

A rule discovered on one window (the reference, e.g. the discovery window) silently changes
meaning when its input feature is distributed differently on the window it is applied to (the
monitored sample, e.g. the backtest window). PSI compares the two histograms on bins fixed by the
reference:

    PSI = sum_i (a_i - e_i) ln(a_i / e_i),

e_i and a_i the shares of the reference and monitored samples in bin i.

Conventions (mix them up and the numbers are silently wrong):
- Bins are cut at the reference's quantiles k / n_bins (k = 1 .. n_bins - 1, the empirical
  "inverted CDF" quantile, so edges are observed values and discrete features get no fractional
  edges). Duplicate edges collapse, so a discrete or constant reference gives fewer bins. Bins
  are right-closed, (edge_{i-1}, edge_i], and the outer ones extend to -inf / +inf, so monitored
  values outside the reference range are counted, not dropped.
- Shares are floored at EPSILON = 1e-4 (in both factors, no renormalisation) so an empty bin adds
  a large but finite term instead of infinity; every term stays >= 0.
- NaN is a missing value: dropped from both samples and counted. +-inf are kept as extreme values.
- PSI is NaN (and n_bins_used 0) when either sample has fewer than n_bins non-null values: the
  shares would be too coarse to mean anything. It is not symmetric in its two arguments.
"""

from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

EPSILON = 1e-4
"""Floor for bin shares before the log, so an empty bin gives a finite PSI term."""


class PsiResult(NamedTuple):
    """PSI with the bin count actually used and the sample sizes behind it."""

    psi: float
    n_bins_used: int
    n_reference: int
    n_monitored: int
    n_reference_null: int
    n_monitored_null: int


def _non_null(sample: npt.ArrayLike) -> tuple[FloatArray, int]:
    """Flattened non-NaN values and the number of NaNs dropped."""
    x = np.asarray(sample, dtype=np.float64).reshape(-1)
    keep = ~np.isnan(x)
    return x[keep], int(x.size - keep.sum())


def _shares(values: FloatArray, edges: FloatArray) -> FloatArray:
    """Share of `values` in each right-closed bin (-inf, e_0], (e_0, e_1], ..., (e_last, +inf)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    return counts / values.size


def population_stability_index(
    reference: npt.ArrayLike, monitored: npt.ArrayLike, n_bins: int = 10
) -> PsiResult:
    """PSI of `monitored` against `reference` on `n_bins` reference-quantile bins (see module)."""
    try:
        k = operator.index(n_bins)
    except TypeError:
        raise ValueError(f"n_bins must be an integer, got {n_bins!r}") from None
    if k < 2:
        raise ValueError(f"n_bins must be >= 2, got {k}")

    ref, ref_null = _non_null(reference)
    mon, mon_null = _non_null(monitored)
    if ref.size < k or mon.size < k:
        return PsiResult(math.nan, 0, int(ref.size), int(mon.size), ref_null, mon_null)

    probs = np.arange(1, k) / k
    edges = np.unique(np.quantile(ref, probs, method="inverted_cdf"))
    e = np.maximum(_shares(ref, edges), EPSILON)
    a = np.maximum(_shares(mon, edges), EPSILON)
    psi = float(np.sum((a - e) * np.log(a / e)))
    return PsiResult(psi, int(edges.size + 1), int(ref.size), int(mon.size), ref_null, mon_null)


def drift_level(psi: float) -> str:
    """Label a PSI with the usual industry thresholds (credit-scoring practice, not a test):
    'stable' below 0.1, 'moderate' from 0.1 to below 0.25, 'significant' from 0.25, and
    'unknown' for NaN."""
    if math.isnan(psi):
        return "unknown"
    if psi < 0.1:
        return "stable"
    if psi < 0.25:
        return "moderate"
    return "significant"
