"""Feature-stage benchmark: bars/s and peak memory of the spec-compiled feature models on a
synthetic lake, and the speed of a representative subset (returns, rolling volatility, z-scores,
an ASOF funding join) in DuckDB against a plain numpy implementation of the same subset, measured
in the same run and checked to agree.

    from ingest.bench_features import bench_features
    rows = bench_features(Path("/tmp/bench"), symbols=20, days=730)   # ~4.2M perp + 4.2M spot bars

Each measurement runs in a fresh subprocess so its peak RSS is its own (dbt and DuckDB included).
Two baselines of the subset: numpy, vectorised per symbol (no loop over bars), and pandas as one
would write it (groupby per symbol, rolling windows, merge_asof). pandas is not a dependency of the
project: it is installed only into a throwaway venv under `$BACKTEST_DATA_ROOT/bench/pandas-venv`,
kept between runs, as ingest/bench_backtest.py does for vectorbt; when it cannot be installed the
subset row says so and the bench goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ingest.bench_venv import PEAK_RSS_SOURCE, bench_venv_python
from ingest.kinds import KINDS, lake_dir
from ingest.lake import lake_root, write_parquet_atomic

PROJECT_DIR = Path(__file__).resolve().parents[1]
BAR = timedelta(minutes=5)
SUBSET_WINDOWS = (12, 48, 288, 2016)
SUBSET_HORIZONS = (1, 3, 12, 48, 288)
PANDAS_INSTALL_TIMEOUT_S = 900
PANDAS_RUN_TIMEOUT_S = 1800


# --------------------------------------------------------------------------------------------------
# Synthetic lake
# --------------------------------------------------------------------------------------------------

def _month_starts(start: date, end: date) -> list[datetime]:
    months, current = [], datetime(start.year, start.month, 1, tzinfo=timezone.utc)
    while current.date() <= end:
        months.append(current)
        current = datetime(current.year + (current.month == 12), current.month % 12 + 1, 1, tzinfo=timezone.utc)
    return months


def _write(data_root: Path, market: str, kind: str, symbol: str, period: str, columns: dict[str, Any],
           interval: str | None = None) -> None:
    table = pa.table({name: pa.array(columns[name], type=field.type) for name, field in
                      zip(KINDS[kind].schema.names, KINDS[kind].schema)}, schema=KINDS[kind].schema)
    write_parquet_atomic(table, lake_root(data_root) / lake_dir(market, kind, symbol, interval) / f"{period}.parquet")


def _klines(rng: np.random.Generator, open_us: np.ndarray, base: float, vol: float) -> dict[str, Any]:
    n = len(open_us)
    close = base * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate([[base], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, n))
    volume = rng.gamma(2.0, 50.0, n)
    taker = volume * rng.uniform(0.3, 0.7, n)
    return {"open_time": open_us, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "close_time": open_us + 300_000_000 - 1000, "quote_volume": volume * close,
            "trade_count": rng.integers(10, 5000, n), "taker_buy_base_volume": taker,
            "taker_buy_quote_volume": taker * close}


def write_synthetic_lake(data_root: Path, symbols: int = 20, days: int = 730, start: date = date(2023, 1, 1),
                         seed: int = 0, gap_rate: float = 2e-5) -> dict[str, int]:
    """Perp and spot 5m klines, 8-hourly funding and 5-minute metrics for `symbols` symbols over
    `days` days, one Parquet file per symbol, kind and month, with rare missing bars (gaps).
    Returns the row counts written."""
    end = start + timedelta(days=days - 1)
    origin = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    n_bars = days * 288
    counts = {"perp_bars": 0, "spot_bars": 0, "funding": 0, "metrics": 0}
    names = ["BTCUSDT", "ETHUSDT"] + [f"SYM{i:02d}USDT" for i in range(max(0, symbols - 2))]
    for index, symbol in enumerate(names[:symbols]):
        rng = np.random.default_rng(seed * 1000 + index)
        bar_us = int(origin.timestamp() * 1e6) + np.arange(n_bars, dtype=np.int64) * 300_000_000
        keep = rng.uniform(size=n_bars) >= gap_rate
        perp = _klines(rng, bar_us, 100.0 * (index + 1), 1e-3)
        spot = {k: (v * (1 + rng.normal(0, 2e-4, n_bars)) if k in ("open", "high", "low", "close") else v)
                for k, v in perp.items()}
        settle_us = int(origin.timestamp() * 1e6) + np.arange(days * 3, dtype=np.int64) * 8 * 3_600_000_000
        funding_rate = np.clip(np.cumsum(rng.normal(0, 5e-5, len(settle_us))) * 0.1 + 1e-4, -3e-3, 3e-3)
        oi = 1e6 * (index + 1) * np.exp(np.cumsum(rng.normal(0, 2e-3, n_bars)))
        for month in _month_starts(start, end):
            next_month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=timezone.utc)
            lo, hi = int(month.timestamp() * 1e6), int(next_month.timestamp() * 1e6)
            period = f"{month.year}-{month.month:02d}"
            in_month = (bar_us >= lo) & (bar_us < hi)
            for market, columns, mask in (("um", perp, in_month & keep), ("spot", spot, in_month)):
                _write(data_root, market, "klines", symbol, period, {k: v[mask] for k, v in columns.items()}, "5m")
                counts["perp_bars" if market == "um" else "spot_bars"] += int(mask.sum())
            in_funding = (settle_us >= lo) & (settle_us < hi)
            settle = settle_us[in_funding]
            _write(data_root, "um", "fundingRate", symbol, period, {
                "funding_time": settle + 3000, "settlement_time": settle,
                "funding_interval_hours": np.full(len(settle), 8, dtype=np.int32),
                "funding_rate": funding_rate[in_funding]})
            counts["funding"] += int(in_funding.sum())
            end_us = bar_us[in_month] + 300_000_000
            _write(data_root, "um", "metrics", symbol, period, {
                "create_time": end_us, "period_end": end_us, "label_convention": np.full(len(end_us), "end"),
                "sum_open_interest": oi[in_month], "sum_open_interest_value": oi[in_month] * perp["close"][in_month],
                "count_toptrader_long_short_ratio": rng.uniform(0.8, 1.2, len(end_us)),
                "sum_toptrader_long_short_ratio": rng.uniform(0.8, 1.2, len(end_us)),
                "count_long_short_ratio": rng.uniform(0.8, 1.2, len(end_us)),
                "sum_taker_long_short_vol_ratio": rng.uniform(0.8, 1.2, len(end_us))})
            counts["metrics"] += int(in_month.sum())
    return counts


# --------------------------------------------------------------------------------------------------
# dbt and the two subset implementations (each run in its own process by `_child`)
# --------------------------------------------------------------------------------------------------

def write_bench_profile(data_root: Path, memory_limit: str | None) -> Path:
    """The project's profiles.yml with DuckDB's memory_limit set to the benchmark's own value, so
    the peak memory measured is the one the target names, whatever the machine's default."""
    import yaml

    profiles = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    if memory_limit:
        for profile in profiles.values():
            for output in profile.get("outputs", {}).values():
                output.setdefault("settings", {})["memory_limit"] = memory_limit
    folder = data_root / "profile"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(profiles, sort_keys=False), encoding="utf-8")
    return folder


def _dbt_command(args: list[str], data_root: Path) -> list[str]:
    executable = Path(sys.executable).with_name("dbt")
    return [str(executable) if executable.exists() else "dbt", *args, "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(data_root / "profile"), "--target-path", str(data_root / "target"),
            "--log-path", str(data_root / "logs")]


def _dbt_env(data_root: Path) -> dict[str, str]:
    return {**os.environ, "BACKTEST_DATA_ROOT": str(data_root), "DBT_PROFILES_DIR": str(data_root / "profile"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _measure_dbt(data_root: str, *args: str) -> dict[str, Any]:
    """`dbt <args>` in a subprocess: wall time, success, per-model seconds from run_results.json."""
    root = Path(data_root)
    started = time.perf_counter()
    done = subprocess.run(_dbt_command(list(args), root), cwd=PROJECT_DIR, env=_dbt_env(root),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    results = json.loads((root / "target" / "run_results.json").read_text())
    models = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in results["results"]}
    return {"seconds": seconds, "models": models}


def subset_spec() -> dict[str, Any]:
    """The representative subset in the feature vocabulary (the numpy baseline computes the same)."""
    features = [{"name": f"ret_{n}", "formula": f"log_return(close, {n})", "inputs": ["close"], "lookback_bars": n}
                for n in SUBSET_HORIZONS]
    features += [{"name": f"rv_{n}", "formula": f"rolling_std(ret_1, {n})", "inputs": ["ret_1"], "lookback_bars": n}
                 for n in SUBSET_WINDOWS]
    features += [{"name": f"{column}_z_288", "formula": f"zscore({column}, 288)", "inputs": [column],
                  "lookback_bars": 287} for column in ("volume", "quote_volume")]
    features += [{"name": "funding_asof_z_2016", "formula": "zscore(funding_asof, 2016)", "inputs": ["funding_asof"],
                  "lookback_bars": 2015}]
    for feature in features:
        feature.update(unit="-", pit="-", description="benchmark subset")
    return {"returns": {"features": features}}


def subset_sql() -> str:
    """The subset compiled by the feature compiler over fct_bars with an explicit backward ASOF join
    of the staged funding rates (what the CLEAN stage does for fct_bars.funding_rate)."""
    from python_udfs.feature_compiler import BlockPlanner, render_sql
    from python_udfs.feature_inputs import BARS, NUMBER, InputColumn, bar_columns
    from python_udfs.feature_spec import FeatureCatalog, build_feature_catalog

    inputs = {**bar_columns(), "funding_asof": InputColumn("funding_asof", BARS, NUMBER)}
    features = build_feature_catalog(subset_spec(), Path("<benchmark subset>"), inputs)
    # Planned as the stage plans its blocks (compile_block: feature_block=True), so the subset runs
    # the same SQL forms as fct_features' own windows.
    plan = BlockPlanner(FeatureCatalog(Path("."), features, {}, 5), "returns", inputs, feature_block=True).plan()
    bars = ("(select b.*, f.funding_rate as funding_asof from fct_bars as b asof left join stg_binance__funding as f "
            "on b.symbol = f.symbol and b.available_at >= f.available_at)")
    return render_sql(plan, {"fct_bars": bars})


def _measure_sql_subset(warehouse: str, memory_limit: str = "") -> dict[str, Any]:
    import duckdb

    conn = duckdb.connect(warehouse)
    if memory_limit:
        conn.execute(f"set memory_limit = '{memory_limit}'").fetchall()
    started = time.perf_counter()
    conn.execute(f"create or replace table bench_subset_sql as {subset_sql()}").fetchall()
    seconds = time.perf_counter() - started
    rows = conn.execute("select count(*) from bench_subset_sql").fetchall()[0][0]
    conn.close()
    return {"seconds": seconds, "rows": rows}


def _rolling_sums(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum, sum of squares and NaN count of the last n values (NaN-padded at the start)."""
    bad = np.isnan(x)
    clean = np.where(bad, 0.0, x)
    out = []
    for values in (clean, clean * clean, bad.astype(np.float64)):
        total = np.concatenate([[0.0], np.cumsum(values)])
        window = np.full(len(x), np.nan)
        window[n - 1:] = total[n:] - total[:-n]
        out.append(window)
    return out[0], out[1], out[2]


def _rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    s1, s2, nans = _rolling_sums(x, n)
    var = (s2 - s1 * s1 / n) / (n - 1)
    with np.errstate(invalid="ignore"):
        return np.where(nans == 0, np.sqrt(np.maximum(var, 0.0)), np.nan)


def _zscore(x: np.ndarray, n: int) -> np.ndarray:
    s1, s2, nans = _rolling_sums(x, n)
    mean = s1 / n
    std = np.sqrt(np.maximum((s2 - s1 * mean) / (n - 1), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / std
    return np.where((nans == 0) & np.isfinite(z), z, np.nan)


def numpy_subset(close: np.ndarray, is_gap: np.ndarray, volume: np.ndarray, quote_volume: np.ndarray,
                 available_us: np.ndarray, funding_available_us: np.ndarray, funding_rate: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """The subset for one symbol's regular bar grid, same semantics as the SQL: NULL (NaN) unless
    the lookback + 1 bars ending at the bar are gap-free and exist."""
    n = len(close)
    index = np.arange(n)
    last_bad = np.maximum.accumulate(np.where(is_gap, index, -1))
    clean_run = index - last_bad
    close = np.where(is_gap, np.nan, close)
    volume = np.where(is_gap, np.nan, volume)
    quote_volume = np.where(is_gap, np.nan, quote_volume)
    position = np.searchsorted(funding_available_us, available_us, side="right") - 1
    funding = np.where(position >= 0, funding_rate[np.clip(position, 0, None)], np.nan)
    funding = np.where(is_gap, np.nan, funding)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for h in SUBSET_HORIZONS:
            ret = np.full(n, np.nan)
            ret[h:] = np.log(close[h:] / close[:-h])
            out[f"ret_{h}"] = ret
    for w in SUBSET_WINDOWS:
        out[f"rv_{w}"] = _rolling_std(out["ret_1"], w)
    out["volume_z_288"] = _zscore(volume, 288)
    out["quote_volume_z_288"] = _zscore(quote_volume, 288)
    out["funding_asof_z_2016"] = _zscore(funding, 2016)
    lookbacks = {**{f"ret_{h}": h for h in SUBSET_HORIZONS}, **{f"rv_{w}": w for w in SUBSET_WINDOWS},
                 "volume_z_288": 287, "quote_volume_z_288": 287, "funding_asof_z_2016": 2015}
    return {name: np.where(clean_run > lookbacks[name], values, np.nan) for name, values in out.items()}


def _load_symbol_arrays(conn: Any) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    bars = conn.sql("select symbol, epoch_us(available_at) as available_us, close, is_gap, volume, quote_volume "
                    "from fct_bars order by symbol, ts").to_arrow_table()
    funding = conn.sql("select symbol, epoch_us(available_at) as available_us, funding_rate "
                       "from stg_binance__funding order by symbol, available_at").to_arrow_table()
    b = {name: bars[name].to_numpy(zero_copy_only=False) for name in bars.column_names}
    f = {name: funding[name].to_numpy(zero_copy_only=False) for name in funding.column_names}
    for column in ("close", "volume", "quote_volume", "funding_rate"):
        target = b if column in b else f
        target[column] = np.asarray(target[column], dtype=np.float64)
    symbols = list(dict.fromkeys(b["symbol"]))
    return symbols, b, f


def _measure_numpy(warehouse: str, check: str = "1") -> dict[str, Any]:
    """Load the inputs from the warehouse (Arrow -> numpy), compute the subset per symbol, and
    compare it with the SQL subset table."""
    import duckdb

    conn = duckdb.connect(warehouse, read_only=True)
    started = time.perf_counter()
    symbols, b, f = _load_symbol_arrays(conn)
    loaded = time.perf_counter()
    bounds = np.flatnonzero(np.r_[True, b["symbol"][1:] != b["symbol"][:-1], True])
    f_bounds = {s: np.flatnonzero(f["symbol"] == s) for s in symbols}
    results: dict[str, list[np.ndarray]] = {}
    for i, symbol in enumerate(symbols):
        lo, hi = bounds[i], bounds[i + 1]
        fi = f_bounds[symbol]
        values = numpy_subset(b["close"][lo:hi], b["is_gap"][lo:hi], b["volume"][lo:hi], b["quote_volume"][lo:hi],
                              b["available_us"][lo:hi], f["available_us"][fi], f["funding_rate"][fi])
        for name, array in values.items():
            results.setdefault(name, []).append(array)
    computed = time.perf_counter()
    ours = {name: np.concatenate(arrays) for name, arrays in results.items()}
    conn.close()
    max_abs_diff = _compare_with_sql(warehouse, ours, "numpy") if check == "1" else None
    return {"rows": int(len(b["close"])), "load_seconds": loaded - started, "compute_seconds": computed - loaded,
            "seconds": computed - started, "max_rel_diff_vs_sql": max_abs_diff}


PANDAS_SCRIPT = PEAK_RSS_SOURCE + r'''
"""Run by the throwaway pandas venv: python this.py inputs.npz results.npz -> one JSON line. The
benchmark subset written as one would in pandas: per-symbol groupby shifts and rolling windows
(NaN unless the whole window is present, pandas' default min_periods), a backward merge_asof of the
funding rates on their availability time, then the same lookback mask as the SQL (NULL unless the
lookback + 1 bars ending at the bar are gap-free)."""
import json, resource, sys, time
import numpy as np
import pandas as pd

inputs = np.load(sys.argv[1])
HORIZONS, WINDOWS = [int(h) for h in inputs["horizons"]], [int(w) for w in inputs["windows"]]
started = time.perf_counter()
bars = pd.DataFrame({name: inputs[name] for name in ("symbol", "available_us", "close", "is_gap", "volume",
                                                     "quote_volume")})
funding = pd.DataFrame({"symbol": inputs["funding_symbol"], "available_us": inputs["funding_available_us"],
                        "funding_rate": inputs["funding_rate"]})
loaded = time.perf_counter()
for column in ("close", "volume", "quote_volume"):
    bars[column] = bars[column].mask(bars["is_gap"])
bars["row"] = np.arange(len(bars))
asof = pd.merge_asof(bars.sort_values("available_us"), funding.sort_values("available_us"), on="available_us",
                     by="symbol", direction="backward").sort_values("row")
bars["funding_asof"] = asof["funding_rate"].to_numpy()
bars["funding_asof"] = bars["funding_asof"].mask(bars["is_gap"])
by_symbol = bars.groupby("symbol", sort=False)
out = {}
for h in HORIZONS:
    out[f"ret_{h}"] = np.log(bars["close"] / by_symbol["close"].shift(h))
returns = out["ret_1"].groupby(bars["symbol"], sort=False)
for w in WINDOWS:
    out[f"rv_{w}"] = returns.transform(lambda s, w=w: s.rolling(w).std())

def zscore(column, n):
    grouped = bars.groupby("symbol", sort=False)[column]
    mean = grouped.transform(lambda s: s.rolling(n).mean())
    std = grouped.transform(lambda s: s.rolling(n).std())
    return (bars[column] - mean) / std

out["volume_z_288"] = zscore("volume", 288)
out["quote_volume_z_288"] = zscore("quote_volume", 288)
out["funding_asof_z_2016"] = zscore("funding_asof", 2016)
index = bars.groupby("symbol", sort=False).cumcount()
last_gap = index.where(bars["is_gap"], -1).groupby(bars["symbol"], sort=False).cummax()
clean_run = index - last_gap
lookbacks = {**{f"ret_{h}": h for h in HORIZONS}, **{f"rv_{w}": w for w in WINDOWS}, "volume_z_288": 287,
             "quote_volume_z_288": 287, "funding_asof_z_2016": 2015}
result = {name: values.where(np.isfinite(values) & (clean_run > lookbacks[name])).to_numpy(dtype=np.float64)
          for name, values in out.items()}
computed = time.perf_counter()
np.savez(sys.argv[2], **result)
print(json.dumps({"rows": len(bars), "load_seconds": loaded - started, "compute_seconds": computed - loaded,
                  "seconds": computed - started, "pandas": pd.__version__,
                  "peak_rss_mb": peak_rss_mb()}))
'''


def _export_subset_inputs(warehouse: str, path: Path) -> None:
    """The bars and funding rates the subset reads, as numpy arrays (symbol as integer codes) for the
    pandas venv, which has no DuckDB."""
    import duckdb

    conn = duckdb.connect(warehouse, read_only=True)
    symbols, b, f = _load_symbol_arrays(conn)
    conn.close()
    codes = {symbol: code for code, symbol in enumerate(symbols)}
    np.savez(path, symbol=np.array([codes[s] for s in b["symbol"]], dtype=np.int32),
             available_us=b["available_us"].astype(np.int64), close=b["close"], is_gap=b["is_gap"].astype(bool),
             volume=b["volume"], quote_volume=b["quote_volume"],
             funding_symbol=np.array([codes.get(s, -1) for s in f["symbol"]], dtype=np.int32),
             funding_available_us=f["available_us"].astype(np.int64), funding_rate=f["funding_rate"],
             horizons=np.array(SUBSET_HORIZONS), windows=np.array(SUBSET_WINDOWS))


def _compare_with_sql(warehouse: str, ours: dict[str, np.ndarray], baseline: str) -> float:
    """Largest relative difference between `ours` (rows ordered by symbol, ts) and the SQL subset;
    raises when a NULL pattern differs."""
    import duckdb

    conn = duckdb.connect(warehouse, read_only=True)
    names = list(ours)
    sql = conn.sql(f"select {', '.join(names)} from bench_subset_sql order by symbol, ts").to_arrow_table()
    conn.close()
    diffs = []
    for name in names:
        theirs = np.asarray(sql[name].to_numpy(zero_copy_only=False), dtype=np.float64)
        if not np.array_equal(np.isfinite(theirs), np.isfinite(ours[name])):
            raise AssertionError(f"benchmark subset: NULL pattern of {name} differs between SQL and {baseline}")
        both = np.isfinite(theirs)
        scale = np.maximum(1.0, np.abs(theirs[both]))
        diffs.append(float(np.max(np.abs(theirs[both] - ours[name][both]) / scale)) if both.any() else 0.0)
    return max(diffs)


def pandas_baseline(warehouse: str, workdir: Path, venv: Path) -> dict[str, Any]:
    """The subset in pandas (PANDAS_SCRIPT) in its own venv and process, checked against the SQL
    subset; {'status': 'skipped: ...'} when pandas cannot be installed or run."""
    python, status = bench_venv_python(venv, "pandas", PANDAS_INSTALL_TIMEOUT_S)
    if python is None:
        return {"status": f"skipped: {status}"}
    script, inputs, results = workdir / "bench_pandas.py", workdir / "subset_inputs.npz", workdir / "subset_pandas.npz"
    script.write_text(PANDAS_SCRIPT)
    started = time.perf_counter()
    _export_subset_inputs(warehouse, inputs)
    exported = time.perf_counter() - started
    try:
        out = subprocess.run([str(python), str(script), str(inputs), str(results)], capture_output=True, text=True,
                             timeout=PANDAS_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        return {"status": f"skipped: {type(error).__name__}"}
    if out.returncode != 0:
        return {"status": f"skipped: pandas run failed: {out.stderr.strip()[-300:]}"}
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    with np.load(results) as values:
        ours = {name: values[name] for name in values.files}
    return {**measured, "export_seconds": exported, "status": f"ok (venv {status}, pandas {measured['pandas']})",
            "max_rel_diff_vs_sql": _compare_with_sql(warehouse, ours, "pandas")}


def _child(kind: str, *args: str) -> dict[str, Any]:
    from ingest.bench import run_measurement

    return run_measurement("bench_features", kind, *args)


def events_count(data_root: Path) -> dict[str, int]:
    """Event types and fired events in the benchmark warehouse (a sanity check that the stage ran)."""
    import duckdb

    conn = duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True)
    [(types, fired)] = conn.execute("select (select count(*) from dim_event_types), (select count(*) from fct_events)"
                                    ).fetchall()
    return {"event_types": types, "fired": fired}


def discovery_counts(data_root: Path) -> dict[str, Any]:
    """Hypotheses planned and tested in the benchmark warehouse."""
    import duckdb

    conn = duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True)
    [(planned, tested, events)] = conn.execute(
        "select hypotheses_planned, hypotheses_tested, (select count(*) from fct_events) from fct_phase2_run_summary"
    ).fetchall()
    return {"hypotheses_planned": planned, "hypotheses_tested": tested, "fired_events": events}


def default_pandas_venv() -> Path:
    """Where `make bench` keeps the pandas venv between runs."""
    return (Path(os.environ.get("BACKTEST_DATA_ROOT", "data")) / "bench" / "pandas-venv").resolve()


def bench_features(workdir: Path, symbols: int = 20, days: int = 730, seed: int = 0,
                   memory_limit: str | None = "3GB", pandas_venv: Path | None = None) -> list[dict[str, object]]:
    """Build the feature stage on a synthetic lake under `workdir` and return result rows (same
    shape as ingest/bench.py): the feature stage (`dbt run -s tag:features`: calendar, 11 blocks,
    fct_features, dim_states) and the subset, SQL vs numpy and pandas. DuckDB runs with `memory_limit`;
    pandas runs from the venv `pandas_venv` (default_pandas_venv() when None)."""
    data_root = Path(workdir) / "features_lake"
    write_bench_profile(data_root, memory_limit)
    started = time.perf_counter()
    counts = write_synthetic_lake(data_root, symbols=symbols, days=days, seed=seed)
    lake_seconds = time.perf_counter() - started
    _child("dbt", str(data_root), "seed")
    clean = _child("dbt", str(data_root), "run", "-s", "+fct_bars")
    stage = _child("dbt", str(data_root), "run", "-s", "tag:features")
    events = _child("dbt", str(data_root), "run", "-s", "tag:events")
    discovery = _child("dbt", str(data_root), "run", "-s", "tag:discovery", "tag:bridge")
    warehouse = str(data_root / "warehouse.duckdb")
    sql = _child("sql_subset", warehouse, memory_limit or "")
    base = _child("numpy", warehouse)
    pandas = pandas_baseline(warehouse, Path(workdir), pandas_venv or default_pandas_venv())
    rows = base["rows"]
    bars = counts["perp_bars"] + counts["spot_bars"]
    case = f"{symbols} symbols x {days} days of 5m perp + spot bars"
    results: list[dict[str, object]] = [{
        "stage": "features", "case": f"{case}: dbt run -s tag:features (calendar, 11 blocks, fct_features, dim_states)",
        "rows": rows, "bars": bars, "seconds": round(stage["seconds"], 2),
        "rows_per_s": round(rows / stage["seconds"]), "bars_per_s": round(bars / stage["seconds"]),
        "peak_rss_mb": round(stage["peak_rss_mb"], 1), "duckdb_memory_limit": memory_limit or "default",
        "slowest_models": dict(sorted(stage["models"].items(), key=lambda kv: -kv[1])[:5]),
        "setup": {"lake_write_s": round(lake_seconds, 1), "clean_stage_s": round(clean["seconds"], 1)},
    }, {
        "stage": "events", "case": f"{case}: dbt run -s tag:events (every spec/events event in one pass, "
                                   "flags, events, coverage, registry)",
        "bars": rows, "events": events_count(data_root), "seconds": round(events["seconds"], 2),
        "bars_per_s": round(rows / events["seconds"]), "peak_rss_mb": round(events["peak_rss_mb"], 1),
        "duckdb_memory_limit": memory_limit or "default",
        "models": dict(sorted(events["models"].items(), key=lambda kv: -kv[1])),
    }, {
        "stage": "discovery", "case": f"{case}: dbt run -s tag:discovery tag:bridge (windows, labels, costs, "
                                      "phase 1, phase 2 plan, statistics, results, summary, bridge, blueprints)",
        **(counts := discovery_counts(data_root)), "seconds": round(discovery["seconds"], 2),
        "hypotheses_per_s": round(counts["hypotheses_planned"] / discovery["seconds"]),
        "peak_rss_mb": round(discovery["peak_rss_mb"], 1),
        "models": dict(sorted(discovery["models"].items(), key=lambda kv: -kv[1])[:6]),
    }, {
        "stage": "features", "case": f"{case}: subset (5 returns, 4 rolling vols, 3 z-scores, ASOF funding join)",
        "rows": rows, "seconds": round(sql["seconds"], 2), "rows_per_s": round(rows / sql["seconds"]),
        "peak_rss_mb": round(sql["peak_rss_mb"], 1),
        "baseline": "numpy per symbol (cumsum windows, searchsorted ASOF), load from warehouse + compute",
        "baseline_rows_per_s": round(rows / base["seconds"]),
        "baseline_compute_only_rows_per_s": round(rows / base["compute_seconds"]),
        "baseline_peak_rss_mb": round(base["peak_rss_mb"], 1),
        "speedup_vs_baseline": round(base["seconds"] / sql["seconds"], 2),
        "max_rel_diff_vs_baseline": base["max_rel_diff_vs_sql"],
        "pandas_baseline": pandas["status"],
        **({} if "seconds" not in pandas else {
            # Like the numpy baseline: from the warehouse (exported to arrays for the venv) + compute.
            "pandas_rows_per_s": round(rows / (pandas["export_seconds"] + pandas["seconds"])),
            "pandas_compute_only_rows_per_s": round(rows / pandas["compute_seconds"]),
            "pandas_peak_rss_mb": round(pandas["peak_rss_mb"], 1),
            "speedup_vs_pandas": round((pandas["export_seconds"] + pandas["seconds"]) / sql["seconds"], 2),
            "max_rel_diff_vs_pandas": pandas["max_rel_diff_vs_sql"]}),
    }]
    return results


def main() -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit for the dbt runs ('' = default)")
    args = parser.parse_args()
    if args.workdir is not None:
        results = bench_features(args.workdir, args.symbols, args.days, memory_limit=args.memory_limit or None)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
            results = bench_features(Path(tmp), args.symbols, args.days, memory_limit=args.memory_limit or None)
    for row in results:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
