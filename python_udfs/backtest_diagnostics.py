"""Backtest diagnostics as tables: the probability of backtest overfitting over the blueprints, and the
drift of every feature a blueprint depends on between the discovery and backtest windows.

Why: a good backtest of the best of many variants is expected even when none has an edge (PBO says
how often the in-sample winner lands in the bottom half out of sample), and an edge measured on one
feature distribution may not hold on another (PSI says how far the features moved).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from python_udfs.drift_monitor import drift_level, population_stability_index
from python_udfs.overfitting import probability_of_backtest_overfitting

FloatArray = npt.NDArray[np.float64]

OVERFITTING_SCHEMA = pa.schema([
    ("n_strategies", pa.int64()), ("n_bars", pa.int64()), ("n_blocks", pa.int64()), ("n_combinations", pa.int64()),
    ("pbo", pa.float64()), ("degradation_slope", pa.float64()), ("degradation_intercept", pa.float64()),
    ("prob_oos_loss", pa.float64()), ("median_logit", pa.float64()), ("status", pa.string()),
])


def _micros(values: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    return values.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)


def returns_matrix(rows: pa.Table, grid: pa.ChunkedArray, strategy_ids: list[str]) -> FloatArray:
    """(bars x strategies) per-bar net of the strategy rows of fct_backtest_pnl on the window's grid:
    a bar without a row is flat (0), an unknown net stays NaN."""
    bars = np.unique(_micros(grid))
    column_of = {strategy: j for j, strategy in enumerate(strategy_ids)}
    out = np.zeros((bars.size, len(strategy_ids)))
    if rows.num_rows:
        keep = np.array([s in column_of for s in rows.column("strategy_id").to_pylist()])
        ids = [s for s, k in zip(rows.column("strategy_id").to_pylist(), keep) if k]
        at = np.searchsorted(bars, _micros(rows.column("ts"))[keep])
        net = rows.column("net").to_numpy(zero_copy_only=False).astype(np.float64)[keep]
        out[at, [column_of[s] for s in ids]] = net
    return out


def overfitting_table(returns: FloatArray, n_blocks: int) -> pa.Table:
    """One row: PBO by CSCV over the columns of `returns` with its companions, or the reason it
    cannot be measured (fewer than two strategies, too few bars)."""
    n_bars, n_strategies = returns.shape
    row: dict[str, Any] = {"n_strategies": n_strategies, "n_bars": n_bars, "n_blocks": n_blocks}
    if n_strategies < 2:
        row["status"] = "needs at least 2 blueprints"
    elif n_bars < 2 * n_blocks:
        row["status"] = f"needs at least {2 * n_blocks} bars"
    else:
        result = probability_of_backtest_overfitting(returns, n_blocks)
        finite = result.logits[np.isfinite(result.logits)]
        row.update(n_combinations=result.n_combinations, pbo=result.pbo, degradation_slope=result.degradation_slope,
                   degradation_intercept=result.degradation_intercept, prob_oos_loss=result.prob_oos_loss,
                   median_logit=float(np.median(finite)) if finite.size else None, status="ok")
    return pa.Table.from_pylist([row], schema=OVERFITTING_SCHEMA)


def feature_drift_table(features: pa.Table, discovery: tuple[int, int], backtest: tuple[int, int],
                        usage: dict[tuple[str, str], list[str]], n_bins: int) -> pa.Table:
    """One row per (feature, symbol) a blueprint uses: PSI of the backtest window's values against
    the discovery window's, with its level and the blueprints that depend on it. Windows are
    [start, end) in epoch microseconds."""
    ts = _micros(features.column("ts"))
    symbols = np.asarray(features.column("symbol").to_pylist(), dtype=object)
    in_discovery = (ts >= discovery[0]) & (ts < discovery[1])
    in_backtest = (ts >= backtest[0]) & (ts < backtest[1])
    rows = []
    for (feature, symbol), blueprints in sorted(usage.items()):
        values = features.column(feature).to_numpy(zero_copy_only=False).astype(np.float64)
        mine = symbols == symbol
        result = population_stability_index(values[mine & in_discovery], values[mine & in_backtest], n_bins)
        rows.append({"feature": feature, "symbol": symbol, "psi": None if np.isnan(result.psi) else result.psi,
                     "drift_level": drift_level(result.psi), "n_bins_used": result.n_bins_used,
                     "n_discovery": result.n_reference, "n_backtest": result.n_monitored,
                     "n_discovery_null": result.n_reference_null, "n_backtest_null": result.n_monitored_null,
                     "blueprint_ids": sorted(blueprints)})
    schema = pa.schema([("feature", pa.string()), ("symbol", pa.string()), ("psi", pa.float64()),
                        ("drift_level", pa.string()), ("n_bins_used", pa.int64()), ("n_discovery", pa.int64()),
                        ("n_backtest", pa.int64()), ("n_discovery_null", pa.int64()), ("n_backtest_null", pa.int64()),
                        ("blueprint_ids", pa.list_(pa.string()))])
    return pa.Table.from_pylist(rows, schema=schema)


def blueprint_feature_usage(blueprints: list[dict[str, Any]], event_inputs: dict[str, tuple[str, ...]],
                            state_inputs: dict[str, tuple[str, ...]], available: set[str]) -> dict[tuple[str, str], list[str]]:
    """(feature, symbol) -> blueprints: the inputs of each blueprint's event and of its state
    condition, limited to the columns fct_features has."""
    usage: dict[tuple[str, str], list[str]] = {}
    for blueprint in blueprints:
        used = set(event_inputs.get(blueprint["event_type"], ()))
        used |= set(state_inputs.get(blueprint["state_name"], ()))
        for feature in sorted(used & available):
            for symbol in blueprint["symbol_scope"]:
                usage.setdefault((feature, symbol), []).append(blueprint["blueprint_id"])
    return usage
