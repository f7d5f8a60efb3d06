"""Bridge evaluation: each promoted phase 2 candidate re-measured on the holdout window alone,
with the same labels and cost model, at the configured cost and under cost stress, plus the
deflated Sharpe ratio of its holdout returns.

Called by the dbt Python model int_bridge__holdout_statistics on the holdout events of the promoted
candidates (one row per candidate x holdout event, with the side already resolved). The after-cost
return of one event under a cost multiplier m, in bps (the phase 2 definition, python_udfs/phase2.py):
    r = s * gross_return * 1e4 - m * round_trip_cost_bps - s * funding_rate_sum * 1e4
Funding is realised, not a cost estimate, so stress does not scale it.

Deflated Sharpe (Bailey & Lopez de Prado 2014; python_udfs/sharpe.py): the per-trade Sharpe of
the holdout returns against the expected maximum Sharpe of the run's n_trials phase 2 hypotheses,
whose Sharpe ratios have variance trial_sharpe_variance. Overlapping trades are not independent
observations, so the track-record length T is the de-overlapped count, not the number of trades.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from python_udfs.event_statistics import cell_statistics
from python_udfs.sharpe import deflated_sharpe_ratio, expected_max_sharpe

FloatArray = npt.NDArray[np.float64]


def _floats(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(pc.fill_null(pc.cast(table[name], pa.float64()), np.nan).to_numpy(zero_copy_only=False))


def _nullable(values: FloatArray) -> pa.Array:
    """NaN (undefined) becomes NULL: SQL must not compare against NaN."""
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _moments(codes: npt.NDArray[np.int64], values: FloatArray, n_cells: int) -> tuple[FloatArray, FloatArray]:
    """Biased sample skewness and non-excess kurtosis per cell (the convention of sharpe.py)."""
    skew = np.full(n_cells, np.nan)
    kurt = np.full(n_cells, np.nan)
    usable = ~np.isnan(values)
    order = np.argsort(codes[usable], kind="stable")
    sorted_codes = codes[usable][order]
    sorted_values = values[usable][order]
    bounds = np.searchsorted(sorted_codes, np.arange(n_cells + 1))
    for cell in range(n_cells):
        sample = sorted_values[bounds[cell]:bounds[cell + 1]]
        if sample.size >= 3 and np.ptp(sample) > 0:
            skew[cell] = stats.skew(sample, bias=True)
            kurt[cell] = stats.kurtosis(sample, fisher=False, bias=True)
    return skew, kurt


def holdout_table(events: pa.Table, candidates: Sequence[str], horizons: Sequence[int],
                  cost_multipliers: Sequence[float], n_trials: int, trial_sharpe_variance: float) -> pa.Table:
    """One row per candidate x cost multiplier (1.0 first) with the holdout statistics.

    `events` has candidate_id, bar_index, side_sign, gross_return, funding_rate_sum, funding_known
    and round_trip_cost_bps; `candidates`/`horizons` list every promoted candidate (a candidate
    without holdout events still gets rows, with n = 0)."""
    if n_trials <= 1 and not np.isfinite(trial_sharpe_variance):
        trial_sharpe_variance = 0.0  # one trial: the benchmark is a Sharpe of 0, DSR = PSR(0)
    index = {candidate: i for i, candidate in enumerate(candidates)}
    n_cells = len(candidates)
    codes = np.array([index[c] for c in events["candidate_id"].to_pylist()], dtype=np.int64)
    bar_index = _floats(events, "bar_index").astype(np.int64) if events.num_rows else np.zeros(0, np.int64)
    side = _floats(events, "side_sign")
    gross = _floats(events, "gross_return")
    funding_known = np.asarray(pc.fill_null(events["funding_known"], False).to_numpy(zero_copy_only=False), dtype=bool) \
        if events.num_rows else np.zeros(0, dtype=bool)
    funding = np.where(funding_known, _floats(events, "funding_rate_sum"), np.nan)
    cost = _floats(events, "round_trip_cost_bps")
    horizon = np.asarray(horizons, dtype=np.int64)
    columns: dict[str, list[FloatArray]] = {}
    multipliers = [1.0, *[float(m) for m in cost_multipliers if float(m) != 1.0]]
    for multiplier in multipliers:
        value = side * gross * 1e4 - multiplier * cost - side * funding * 1e4
        cell = cell_statistics(codes, bar_index, value, horizon, n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            sharpe = np.where(cell.std > 0, cell.mean / cell.std, np.nan)
        skew, kurt = _moments(codes, value, n_cells)
        dsr = deflated_sharpe_ratio(sharpe, cell.n_deoverlapped.astype(float), float(n_trials),
                                    trial_sharpe_variance, np.nan_to_num(skew), np.where(np.isnan(kurt), 3.0, kurt))
        piece = {
            "cost_multiplier": np.full(n_cells, multiplier), "n": cell.n.astype(float),
            "n_deoverlapped": cell.n_deoverlapped.astype(float), "mean_bps": cell.mean, "median_bps": cell.median,
            "std_bps": cell.std, "hit_rate": cell.hit_rate, "hac_se_bps": cell.hac_se, "t_stat": cell.t,
            "p_value": cell.p_positive, "sharpe_per_trade": sharpe, "skewness": skew, "kurtosis": kurt,
            "deflated_sharpe_ratio": np.where(np.isfinite(sharpe) & (cell.n_deoverlapped >= 2), dsr, np.nan),
        }
        for name, values in piece.items():
            columns.setdefault(name, []).append(np.asarray(values, dtype=float))
    repeated = np.tile(np.arange(n_cells), len(multipliers))
    benchmark = float(expected_max_sharpe(float(n_trials), trial_sharpe_variance)) if n_trials >= 1 else float("nan")
    table = {
        "candidate_id": pa.array([candidates[i] for i in repeated], pa.string()),
        **{name: _nullable(np.concatenate(parts)) for name, parts in columns.items()},
        "n_trials": pa.array(np.full(repeated.size, n_trials), pa.int64()),
        "trial_sharpe_variance": _nullable(np.full(repeated.size, trial_sharpe_variance, dtype=float)),
        "expected_max_sharpe": _nullable(np.full(repeated.size, benchmark)),
    }
    for name in ("n", "n_deoverlapped"):
        table[name] = pc.cast(table[name], pa.int64())
    return pa.table(table)
