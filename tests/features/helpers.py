"""Helpers for the feature tests: a small synthetic bar table with gaps and missing values, the
compiler run on ad-hoc formulas against it, and numpy references of the vocabulary's semantics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from python_udfs.feature_compiler import BlockPlanner, render_sql
from python_udfs.feature_inputs import BARS, BOOLEAN, NUMBER, TEXT, TIMESTAMP, InputColumn
from python_udfs.feature_spec import FeatureCatalog, build_feature_catalog
from python_udfs.feature_vocabulary import analyze, parse_formula

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
N_BARS = 700
GAPS = {"BTCUSDT": (150, 151, 400), "ETHUSDT": (10, 500), "SOLUSDT": ()}
"""Bar positions that are gaps (is_gap, every input NULL)."""
MISSING_X = {"BTCUSDT": (300,), "ETHUSDT": (), "SOLUSDT": (250, 600)}
"""Positions where only x is NULL (a missing side value on a real bar)."""
START_INDEX = {"BTCUSDT": 0, "ETHUSDT": 0, "SOLUSDT": 40}
"""SOLUSDT starts 40 bars later: its first bars are the start of its history."""

INPUTS: dict[str, InputColumn] = {
    name: InputColumn(name, BARS, kind) for name, kind in (
        ("symbol", TEXT), ("ts", TIMESTAMP), ("available_at", TIMESTAMP), ("is_gap", BOOLEAN), ("x", NUMBER),
        ("y", NUMBER), ("close", NUMBER), ("c", BOOLEAN), ("k", NUMBER))
}


def make_bars(seed: int = 3) -> dict[str, dict[str, np.ndarray]]:
    """Per symbol: aligned arrays over its grid (NaN where missing), plus the gap mask."""
    rng = np.random.default_rng(seed)
    data = {}
    for symbol in SYMBOLS:
        n = N_BARS - START_INDEX[symbol]
        gap = np.zeros(n, dtype=bool)
        gap[list(GAPS[symbol])] = True
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        x = rng.normal(0, 1, n).round(3)  # ties exercise pct_rank
        y = 0.5 * x + rng.normal(0, 1, n)
        c = np.where(rng.uniform(size=n) < 0.7, 1.0, 0.0)
        k = rng.integers(0, 5, n).astype(float)
        x[list(MISSING_X[symbol])] = np.nan
        c[list(MISSING_X[symbol])] = np.nan
        for values in (close, x, y, c, k):
            values[gap] = np.nan
        data[symbol] = {"close": close, "x": x, "y": y, "c": c, "k": k, "gap": gap,
                        "index": np.arange(START_INDEX[symbol], N_BARS)}
    return data


def bars_table(data: dict[str, dict[str, np.ndarray]]) -> pa.Table:
    t0 = np.datetime64("2024-03-01T00:00:00", "us")
    columns: dict[str, list[Any]] = {name: [] for name in ("symbol", "ts", "available_at", "is_gap", "x", "y",
                                                           "close", "c", "k")}
    for symbol, d in data.items():
        ts = t0 + d["index"] * np.timedelta64(300, "s")
        columns["symbol"].append(np.array([symbol] * len(ts), dtype=object))
        columns["ts"].append(ts)
        columns["available_at"].append(ts + np.timedelta64(300, "s"))
        columns["is_gap"].append(d["gap"])
        for name in ("x", "y", "close", "k"):
            columns[name].append(d[name])
        columns["c"].append(np.array([None if np.isnan(v) else bool(v) for v in d["c"]], dtype=object))
    arrays = {}
    for name, parts in columns.items():
        values = np.concatenate(parts)
        if name in ("ts", "available_at"):
            arrays[name] = pa.array(values).cast(pa.timestamp("us", tz="UTC"))
        elif values.dtype == np.float64:
            arrays[name] = pa.array(values, mask=np.isnan(values))
        else:
            arrays[name] = pa.array(list(values))
    return pa.table(arrays)


def feature_tree(formulas: dict[str, str], block: str = "returns") -> dict[str, Any]:
    """A spec `features` section for ad-hoc formulas, lookbacks computed from the formulas."""
    lookbacks: dict[str, tuple[str, int]] = {}
    entries = []
    for name, formula in formulas.items():
        tree = parse_formula(formula)

        def resolve(ref: str) -> tuple[str, int]:
            return (INPUTS[ref].type, 0) if ref in INPUTS else lookbacks[ref]

        result = analyze(tree, resolve)
        lookbacks[name] = (result.type, result.lookback)
        entries.append({"name": name, "formula": formula, "inputs": sorted(result.references),
                        "lookback_bars": result.lookback, "unit": "-", "pit": "-", "description": "test"})
    return {block: {"features": entries}}


def evaluate(formulas: dict[str, str], table: pa.Table | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Compile `formulas` as one block, run it on the bar table in DuckDB, return per-symbol arrays."""
    table = table if table is not None else bars_table(make_bars())
    features = build_feature_catalog(feature_tree(formulas), Path("<test>"), INPUTS)
    plan = BlockPlanner(FeatureCatalog(Path("."), features, {}, 5), "returns", INPUTS).plan()
    conn = duckdb.connect()
    conn.register("bars_arrow", table)
    conn.execute("create table test_bars as select * from bars_arrow").fetchall()
    names = list(formulas)
    result = conn.sql(f"select symbol, {', '.join(names)} from ({render_sql(plan, {'fct_bars': 'test_bars'})}) "
                      f"order by symbol, ts").to_arrow_table()
    symbols = np.asarray(result["symbol"].to_pylist())
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        column = result[name]
        if pa.types.is_boolean(column.type):
            values = np.array([np.nan if v is None else float(v) for v in column.to_pylist()])
        else:
            values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        out[name] = {symbol: values[symbols == symbol] for symbol in SYMBOLS}
    return out


def reference(data: dict[str, dict[str, np.ndarray]], lookback: int,
              fn: Callable[[dict[str, np.ndarray], int], float]) -> dict[str, np.ndarray]:
    """Per symbol: fn(d, t) where the lookback + 1 bars ending at t exist and are gap-free, else NaN.
    fn sees the symbol's arrays (gap values NaN) and returns NaN for a missing input itself."""
    out = {}
    for symbol, d in data.items():
        n = len(d["gap"])
        values = np.full(n, np.nan)
        for t in range(lookback, n):
            if not d["gap"][t - lookback:t + 1].any():
                values[t] = fn(d, t)
        out[symbol] = values
    return out


def window(d: dict[str, np.ndarray], name: str, t: int, n: int) -> np.ndarray:
    return d[name][t - n + 1:t + 1]
