"""Alpha-bundle benchmark: bars x symbols per second and peak memory of the bundle (spec/alpha) on a
synthetic market of 20 symbols x one year of 5m bars, stage by stage as the models run it - the
signal SQL compiled from spec/alpha/signals.yaml (DuckDB, what int_alpha__signal_values runs), the
scores and rolling orthogonalisation (int_alpha__signals), the factor returns, the combination and
target weights, and the backtest through the engine's target-weights path - against a plain
per-bar Python/numpy implementation of the scores, orthogonalisation, combination and weights,
measured in the same run on a slice and checked to agree.

    from ingest.bench_alpha import bench_alpha
    rows = bench_alpha(Path("/tmp/bench"))        # or: python -m ingest.bench_alpha

Each measurement runs in a fresh subprocess (ingest/bench.py run_measurement) so its peak RSS is
its own. The case is written once as .npz; no dbt parse is timed (the models' SQL and functions are
called directly, as tests/alpha does).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

N_BARS = 105_120            # one year of 5-minute bars
N_SYMBOLS = 20
SEED = 20240301
BASELINE_BARS = 120
"""Bars of the per-bar loop baseline (a least-squares solve per bar and signal over its window)."""
BASELINE_START = 1_000
"""The baseline's slice starts after the signals' warm-up (the 3-day momentum reads 864 bars back)."""
START_US = 1_704_067_200_000_000  # 2024-01-01 UTC
BAR_US = 300_000_000
FEATURES = ("ret_1", "ret_12", "ret_48", "ret_288", "rv_288", "funding_rate_bps", "basis_bps", "quote_volume_mean_288",
            "beta_mkt_288", "beta_btc_288")


# --------------------------------------------------------------------------------------------------
# The synthetic case
# --------------------------------------------------------------------------------------------------

def _rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    total = np.cumsum(np.nan_to_num(x), axis=0)
    out = np.full_like(x, np.nan)
    out[n - 1:] = total[n - 1:] - np.vstack([np.zeros((1, x.shape[1])), total[:-n]])
    return out


def synthetic_case(n_bars: int = N_BARS, n_symbols: int = N_SYMBOLS, seed: int = SEED) -> dict[str, np.ndarray]:
    """Random-walk prices with a common market factor, the fct_features columns the project's signals
    and factors read (windows computed as the features define them), a few gap bars per symbol,
    funding every 96 bars, dim_states labels, and the engine's market inputs."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_symbols)
    beta = rng.uniform(0.6, 1.4, n_symbols)
    market = rng.normal(0, 0.0012, n_bars)
    ret_1 = market[:, None] * beta[None, :] + rng.normal(0, 0.0015, shape)
    gap = np.zeros(shape, dtype=bool)
    for column in range(n_symbols):
        for _ in range(3):
            start = int(rng.integers(300, n_bars - 10))
            gap[start:start + int(rng.integers(1, 5)), column] = True
    close = 100 * np.exp(np.cumsum(ret_1, axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 2e-4, shape))
    ret_1 = np.where(gap, np.nan, ret_1)
    features = {"ret_1": ret_1}
    for n in (12, 48, 288):
        features[f"ret_{n}"] = _rolling_sum(ret_1, n)
    mean = _rolling_sum(ret_1, 288) / 288
    features["rv_288"] = np.sqrt(np.maximum(_rolling_sum(ret_1 ** 2, 288) / 287 - mean ** 2 * 288 / 287, 0))
    funding = np.repeat(rng.normal(1e-4, 1.5e-4, (n_bars // 96 + 1, n_symbols)), 96, axis=0)[:n_bars]
    features["funding_rate_bps"] = funding * 1e4
    features["basis_bps"] = rng.normal(2, 3, shape)
    volume = np.exp(rng.normal(13, 1, n_symbols))[None, :] * rng.gamma(2, 0.5, shape)
    features["quote_volume_mean_288"] = _rolling_sum(volume, 288) / 288
    features["beta_mkt_288"] = beta[None, :] + rng.normal(0, 0.05, shape)
    features["beta_btc_288"] = np.where(np.arange(n_symbols) == 0, 1.0, beta[None, :] * 0.9 + rng.normal(0, 0.05, shape))
    for name in FEATURES:
        features[name] = np.where(gap, np.nan, features[name])
    vol_regime = rng.choice(np.array([0, 1, 2], dtype=np.int8), shape)          # low, mid, high
    trend_state = rng.choice(np.array([0, 1, 2], dtype=np.int8), shape)         # up, down, chop
    settles = (np.arange(n_bars) % 96) == 95
    return {**features, "is_gap": gap, "vol_regime": vol_regime, "trend_state": trend_state,
            "open": np.where(gap, np.nan, open_), "close": np.where(gap, np.nan, close),
            "funding_rate": np.where(settles[:, None], funding, 0.0), "quote_volume": volume,
            "half_spread_bps": rng.uniform(0.5, 2.0, shape)}


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(case) as data:
        return {name: data[name] for name in data.files}


def _long(case: dict[str, np.ndarray], n_bars: int | None = None) -> dict[str, Any]:
    """The case as long Arrow tables: fct_features, dim_states and int_backtest__market_bars rows."""
    import pyarrow as pa

    n_bars = n_bars or case["close"].shape[0]
    n_symbols = case["close"].shape[1]
    symbols = np.array([f"SYM{j:02d}USDT" for j in range(n_symbols)])
    ts = pa.array(np.tile(START_US + np.arange(n_bars, dtype=np.int64) * BAR_US, n_symbols), pa.int64()).cast(
        pa.timestamp("us", tz="UTC"))
    symbol = pa.array(np.repeat(symbols, n_bars))

    def flat(name: str) -> np.ndarray:
        return np.ascontiguousarray(case[name][:n_bars].T).reshape(-1)

    def floats(name: str) -> pa.Array:
        values = flat(name).astype(np.float64)
        return pa.array(values, pa.float64(), mask=np.isnan(values))

    features = pa.table({"symbol": symbol, "ts": ts, "is_gap": pa.array(flat("is_gap")),
                         **{name: floats(name) for name in FEATURES}})
    labels = {"vol_regime": np.array(["low", "mid", "high"]), "trend_state": np.array(["up", "down", "chop"])}
    states = pa.table({"symbol": symbol, "ts": ts, **{name: pa.array(labels[name][flat(name)]) for name in labels}})
    close = case["close"][:n_bars]
    previous = np.vstack([close[:1], close[:-1]])
    volume = case["quote_volume"][:n_bars]
    market = {"symbol": symbol, "ts": ts, "open": floats("open"), "close": floats("close"),
              "previous_close": pa.array(np.ascontiguousarray(previous.T).reshape(-1)),
              "funding_rate": floats("funding_rate"), "half_spread_bps": floats("half_spread_bps"),
              "volatility_bps": pa.array(np.nan_to_num(flat("rv_288"), nan=0.002) * 1e4),
              "mean_quote_volume": floats("quote_volume_mean_288"),
              "last_quote_volume": pa.array(np.ascontiguousarray(np.vstack([volume[:1], volume[:-1]]).T).reshape(-1))}
    return {"features": features, "states": states, "market": pa.table(market)}


# --------------------------------------------------------------------------------------------------
# Measurements (each in its own process)
# --------------------------------------------------------------------------------------------------

def _measure_bundle(case_path: str) -> dict[str, Any]:
    """The bundle stage by stage on the whole case, as the models run it (Arrow in, Arrow out)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    from python_udfs.alpha_compiler import compile_alpha
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import alpha_simulation, factor_return_table, signal_table, target_weight_table
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.cost_model import load_cost_config
    from python_udfs.feature_compiler import render_sql
    from python_udfs.feature_spec import load_catalog

    case = _load(case_path)
    tables = _long(case)
    spec = load_alpha_spec()
    sql = render_sql(compile_alpha(spec, load_catalog()), {})
    conn = duckdb.connect()
    conn.register("fct_features", tables["features"])
    conn.register("dim_states", tables["states"])
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    conn.execute(f"create table signal_values as {sql}")          # what int_alpha__signal_values stores
    seconds["signal_sql"] = time.perf_counter() - started
    factors = tables["features"].select(["symbol", "ts", *spec.orthogonalisation.factors])
    started = time.perf_counter()
    values = conn.sql("select signal_name, symbol, ts, raw_value, regime_on from signal_values").to_arrow_table()
    conn.execute("drop table signal_values")
    signals = signal_table(values, factors, spec)
    seconds["scores_and_orthogonalisation"] = time.perf_counter() - started
    del values, factors
    started = time.perf_counter()
    returns = factor_return_table(signals, tables["features"].select(["symbol", "ts", "ret_1"]), spec)
    seconds["factor_returns"] = time.perf_counter() - started
    started = time.perf_counter()
    weights = target_weight_table(signals.select(["signal_name", "symbol", "ts", "signal_value"]),
                                  returns.filter(pc.equal(returns.column("stage"), "residual")), spec)
    seconds["combination_and_weights"] = time.perf_counter() - started
    signal_rows = signals.num_rows
    del signals, returns
    config = load_backtest_config()
    started = time.perf_counter()
    simulation = alpha_simulation(weights, tables["market"], spec, config, load_cost_config())
    seconds["engine"] = time.perf_counter() - started
    portfolio = simulation.filter(pc.equal(simulation.column("row_kind"), "portfolio"))
    net = {variant: float(pc.sum(portfolio.filter(pc.equal(portfolio.column("variant"), variant)).column("net")).as_py())
           for variant in spec.portfolio.variants}
    del pa
    return {"bars": int(case["close"].shape[0]), "symbols": int(case["close"].shape[1]), "signals": len(spec.signals),
            "seconds": seconds, "signal_rows": signal_rows, "net": net}


def _slice(case: dict[str, np.ndarray], start: int, n_bars: int) -> dict[str, np.ndarray]:
    return {name: values[start:start + n_bars] for name, values in case.items()}


def vectorised_weights(case: dict[str, np.ndarray], n_bars: int,
                       signals: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The bundle's numpy functions on the first n_bars bars of `case` (the project's spec), from the
    raw signals and regime masks given (or evaluated on the case): residuals and the dollar-neutral
    decision weights."""
    from python_udfs.alpha_bundle import (book_weights, combination_weights, combine, cross_section_scores,
                                          factor_returns, gate, hold_decisions, orthogonalise, rebalance_bars,
                                          rolling_volatility)
    from python_udfs.alpha_spec import load_alpha_spec

    spec = load_alpha_spec()
    raw, regime = signals if signals is not None else _raw_signals(case, n_bars, spec)
    scores = np.stack([cross_section_scores(raw[j], s.transform, spec.min_symbols)[0] for j, s in enumerate(spec.signals)])
    ortho = spec.orthogonalisation
    factors = np.stack([case[name][:n_bars] for name in ortho.factors])
    residuals, _ = orthogonalise(scores, factors, intercept=ortho.intercept, method=ortho.method,
                                 window=ortho.estimation_window_bars if ortho.window == "rolling" else None,
                                 min_obs=ortho.min_observations)
    values = gate(residuals, regime)
    returns = np.expm1(case["ret_1"][:n_bars])
    volatility = rolling_volatility(factor_returns(residuals, returns, spec.min_symbols),
                                    spec.combination.volatility_window_bars, spec.combination.min_observations)
    combined = combine(values, combination_weights(np.array([s.weight for s in spec.signals]), volatility))
    book = book_weights(combined, "dollar_neutral", spec.portfolio.gross_leverage, spec.portfolio.max_symbol_weight,
                        spec.min_symbols)
    held, _ = hold_decisions(book, rebalance_bars(START_US // BAR_US + np.arange(n_bars),
                                                  spec.portfolio.rebalance_every_bars))
    return {"residuals": residuals, "weights": held, "combined": combined}


def _raw_signals(case: dict[str, np.ndarray], n_bars: int, spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """The project's signals evaluated directly on the case (the formulas of spec/alpha/signals.yaml,
    written out in numpy for the baseline and the vectorised check)."""
    c = {name: case[name][:n_bars] for name in FEATURES}
    def lag(x: np.ndarray, n: int) -> np.ndarray:
        return np.vstack([np.full((min(n, x.shape[0]), x.shape[1]), np.nan), x[:max(x.shape[0] - n, 0)]])

    formulas = {
        "mom_ts_288": np.tanh(c["ret_288"] / (c["rv_288"] * math.sqrt(288))), "mom_xs_48": c["ret_48"],
        "mom_xs_288": c["ret_288"], "mom_xs_864": c["ret_288"] + lag(c["ret_288"], 288) + lag(c["ret_288"], 576),
        "reversal_xs_12": -c["ret_12"], "carry_funding": -c["funding_rate_bps"], "carry_basis": -c["basis_bps"],
        "vol_tilt_288": -c["rv_288"], "liquidity_tilt_288": np.log(c["quote_volume_mean_288"]),
    }
    names = [s.name for s in spec.signals]
    missing = sorted(set(names) - set(formulas))
    if missing:
        raise ValueError(f"the bench knows the project's signals only; add {missing} to ingest/bench_alpha.py")
    raw = np.stack([formulas[name] for name in names])
    chop = (case["vol_regime"][:n_bars] == 2) & (case["trend_state"][:n_bars] == 2)
    regime = np.stack([~chop if spec.filters_of(name) else np.ones_like(chop) for name in names])
    return raw, regime


def loop_bundle(raw: list[list[list[float]]], regime: list[list[list[bool]]], factors: list[list[list[float]]],
                transforms: list[str], min_symbols: int, window: int, min_obs: int) -> list[list[list[float]]]:
    """The straightforward way: for each bar and signal, rank (or z-score) the bar's known values in
    plain Python, then stack the estimation window's complete rows and solve least squares with
    numpy (intercept, factors, the earlier signals' scores). Residuals per signal, bar and symbol."""
    n_signals, n_bars, n_symbols = len(raw), len(raw[0]), len(raw[0][0])
    scores = [[[math.nan] * n_symbols for _ in range(n_bars)] for _ in range(n_signals)]
    residuals = [[[math.nan] * n_symbols for _ in range(n_bars)] for _ in range(n_signals)]
    for t in range(n_bars):
        for s in range(n_signals):
            row = raw[s][t]
            known = [v for v in row if not math.isnan(v)]
            n = len(known)
            for j, v in enumerate(row):
                if math.isnan(v):
                    continue
                if transforms[s] == "time_series":
                    scores[s][t][j] = v
                elif n >= min_symbols:
                    if transforms[s] == "xs_rank":
                        scores[s][t][j] = (sum(1 for w in known if w < v) - sum(1 for w in known if w > v)) / (n - 1)
                    else:
                        mean = sum(known) / n
                        std = math.sqrt(sum((w - mean) ** 2 for w in known) / (n - 1))
                        scores[s][t][j] = (v - mean) / std if std > 0 else 0.0
        for s in range(n_signals):
            xs, ys = [], []
            for u in range(max(0, t - window + 1), t + 1):
                for j in range(n_symbols):
                    x = [1.0] + [f[u][j] for f in factors] + [scores[i][u][j] for i in range(s)]
                    y = scores[s][u][j]
                    if not math.isnan(y) and not any(math.isnan(v) for v in x):
                        xs.append(x)
                        ys.append(y)
            if len(ys) < min_obs:
                continue
            coef = np.linalg.lstsq(np.array(xs), np.array(ys), rcond=None)[0]
            for j in range(n_symbols):
                x = [1.0] + [f[t][j] for f in factors] + [scores[i][t][j] for i in range(s)]
                y = scores[s][t][j]
                if not math.isnan(y) and not any(math.isnan(v) for v in x):
                    residuals[s][t][j] = y - float(np.dot(x, coef))
    del regime
    return residuals


def _measure_loop_baseline(case_path: str, n_bars: str, start: str = str(BASELINE_START)) -> dict[str, Any]:
    """The loop on n_bars bars from `start` (the signals evaluated on the whole case first; lists built
    before the clock starts), checked against the bundle's functions on the same slice."""
    from python_udfs.alpha_spec import load_alpha_spec

    whole = _load(case_path)
    bars = int(n_bars)
    raw_whole, regime_whole = _raw_signals(whole, whole["close"].shape[0], load_alpha_spec())
    case = _slice(whole, int(start), bars)
    spec = load_alpha_spec()
    raw, regime = raw_whole[:, int(start):int(start) + bars], regime_whole[:, int(start):int(start) + bars]
    ortho = spec.orthogonalisation
    factors = [case[name][:bars].tolist() for name in ortho.factors]
    args = (raw.tolist(), regime.tolist(), factors, [s.transform for s in spec.signals], spec.min_symbols,
            ortho.estimation_window_bars, ortho.min_observations)
    started = time.perf_counter()
    residuals = np.asarray(loop_bundle(*args))
    loop_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = vectorised_weights(case, bars, (raw, regime))
    vector_seconds = time.perf_counter() - started
    both = np.isfinite(residuals) & np.isfinite(ours["residuals"])
    return {"bars": bars, "symbols": int(case["close"].shape[1]), "seconds": loop_seconds,
            "vectorised_seconds": vector_seconds, "residuals": int(both.sum()),
            "same_unknowns": bool(np.array_equal(np.isfinite(residuals), np.isfinite(ours["residuals"]))),
            "max_abs_diff_residuals": float(np.max(np.abs(residuals[both] - ours["residuals"][both]))) if both.any() else None}


def _child(kind: str, *args: str) -> dict[str, Any]:
    from ingest.bench import run_measurement

    return run_measurement("bench_alpha", kind, *args)


# --------------------------------------------------------------------------------------------------
# The bench
# --------------------------------------------------------------------------------------------------

def bench_alpha(workdir: Path) -> list[dict[str, object]]:
    """Result rows (same shape as ingest/bench.py's): the bundle end to end and per stage on the
    synthetic year, and the per-bar loop baseline on a slice with its agreement."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    case_path = workdir / "alpha_case.npz"
    np.savez(case_path, **synthetic_case())
    bundle = _child("bundle", str(case_path))
    base = _child("loop_baseline", str(case_path), str(BASELINE_BARS))
    cells = bundle["bars"] * bundle["symbols"]
    total = sum(bundle["seconds"].values())
    case = (f"{bundle['symbols']} symbols x {bundle['bars']:,} 5m bars (1 year), {bundle['signals']} signals of "
            "spec/alpha, 2 portfolio variants")
    base_cells = base["bars"] * base["symbols"]
    rate = cells / total
    base_rate = base_cells / base["seconds"]
    return [{
        "stage": "alpha", "case": f"bundle end to end: {case} (signal SQL in DuckDB, scores, orthogonalisation, factor "
                                  "returns, combination, weights, engine; no dbt parse)",
        "bars_x_symbols_per_s": round(rate), "seconds": round(total, 2),
        "stages_s": {name: round(value, 2) for name, value in bundle["seconds"].items()},
        "stage_bars_x_symbols_per_s": {name: round(cells / value) for name, value in bundle["seconds"].items()},
        "peak_rss_mb": round(bundle["peak_rss_mb"], 1), "signal_rows": bundle["signal_rows"],
        "portfolio_net": {k: round(v, 4) for k, v in bundle["net"].items()},
    }, {
        "stage": "alpha",
        "case": f"loop_baseline: per-bar Python ranks + a numpy least-squares solve per bar and signal over its "
                f"estimation window, RAN ON A SLICE: first {base['bars']:,} bars x {base['symbols']} symbols "
                "(scores and residuals only)",
        "bars_x_symbols_per_s": round(base_rate), "seconds": round(base["seconds"], 2),
        "peak_rss_mb": round(base["peak_rss_mb"], 1), "compared_residuals": base["residuals"],
        "same_unknowns": base["same_unknowns"], "max_abs_diff_residuals": base["max_abs_diff_residuals"],
        "bundle_speedup_vs_baseline": round(rate / base_rate, 1),
        "scores_and_orthogonalisation_speedup_vs_baseline": round(
            (cells / bundle["seconds"]["scores_and_orthogonalisation"]) / base_rate, 1),
    }]


def main() -> int:
    import tempfile

    from ingest.bench import print_table

    with tempfile.TemporaryDirectory(prefix="bench-alpha-") as tmp:
        results = bench_alpha(Path(tmp))
    print_table(results)
    for row in results:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
