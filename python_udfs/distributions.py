"""Tail probabilities of reference distributions, vectorised over numpy arrays.

Pure functions: NaN marks "undefined" (missing input, df <= 0), so the SQL wrappers can turn it
into NULL without a Python loop.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]


def _valid_t_inputs(t: npt.ArrayLike, df: npt.ArrayLike) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Broadcast `t` and `df` to float arrays and flag the cells where the t law is defined."""
    t_arr, df_arr = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(df, dtype=np.float64))
    valid = ~np.isnan(t_arr) & ~np.isnan(df_arr) & (df_arr > 0)
    return t_arr, df_arr, valid


def student_t_sf(t: npt.ArrayLike, df: npt.ArrayLike) -> FloatArray:
    """Upper tail P(T > t) of Student's t with `df` degrees of freedom (df may be fractional or
    +inf, which gives the normal tail). NaN where t or df is NaN or df <= 0."""
    t_arr, df_arr, valid = _valid_t_inputs(t, df)
    out = np.full(t_arr.shape, np.nan)
    if valid.any():
        out[valid] = stats.t.sf(t_arr[valid], df_arr[valid])
    return out


def student_t_p_two_sided(t: npt.ArrayLike, df: npt.ArrayLike) -> FloatArray:
    """Two-sided p-value P(|T| >= |t|) = 2 * sf(|t|), capped at 1. NaN where undefined."""
    t_arr, df_arr, valid = _valid_t_inputs(t, df)
    out = np.full(t_arr.shape, np.nan)
    if valid.any():
        out[valid] = np.minimum(1.0, 2.0 * stats.t.sf(np.abs(t_arr[valid]), df_arr[valid]))
    return out
