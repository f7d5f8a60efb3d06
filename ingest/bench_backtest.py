"""Backtest-engine benchmark: bar x strategy updates per second and peak memory of
python_udfs/backtest_engine.py on one synthetic book (100 strategies, 20 symbols, one year of 5m
bars), with spec-like caps and kill switches, with tight caps that bind on many bars, and with
neither, against a plain Python loop and against vectorbt on a configuration where both models
agree (no funding, no caps or halts, fees only).

    from ingest.bench_backtest import bench_backtest
    rows = bench_backtest(Path("/tmp/bench"))        # or: python -m ingest.bench_backtest
    python -m ingest.bench_backtest --engine-only     # the three engine rows only (no baseline, no vectorbt)

Each measurement runs in a fresh subprocess so its peak RSS is its own. pandas is not a dependency
of the project: vectorbt (which pulls pandas and numba) is installed only into a throwaway venv under
`$BACKTEST_DATA_ROOT/bench/vectorbt-venv`, kept between runs; when it cannot be installed its row
says `skipped: <reason>` and the other rows stand.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.bench_venv import PEAK_RSS_SOURCE, bench_venv_python

PROJECT_DIR = Path(__file__).resolve().parents[1]
N_BARS = 105_120  # one year of 5-minute bars
N_SYMBOLS = 20
N_STRATEGIES = 100
SEED = 20240101
FUNDING_EVERY = 96  # 8 hours of 5-minute bars
BASELINE_BARS = 5_000
PANDAS_LOOP_BARS = 500
"""Bars of the pandas loop's slice: it runs at tens of thousands of updates per second."""
REPEATS = 3  # timed runs per measurement, in one process; the fastest is reported (the machine may be busy)
VECTORBT_INSTALL_TIMEOUT_S = 1800
VECTORBT_RUN_TIMEOUT_S = 1800
ENGINE_VARIANTS = {
    "engine_full": ("full", "caps + kill switches on, dynamic costs + funding"),
    "engine_tight_caps": ("tight_caps", "caps that bind (strategy 0.01, symbol net 0.02, gross 0.2, new exposure "
                                        "0.02 per bar) + kill switches on, dynamic costs + funding"),
    "engine_no_limits": ("no_limits", "caps + kill switches off, dynamic costs + funding"),
}
"""The engine rows of the bench: row name -> (variant of _inputs, what it runs)."""
CASE = f"{N_STRATEGIES} strategies x {N_SYMBOLS} symbols x {N_BARS:,} 5m bars (1 year)"


# --------------------------------------------------------------------------------------------------
# The synthetic case (written once, loaded by every measurement)
# --------------------------------------------------------------------------------------------------

def synthetic_case(n_bars: int = N_BARS, n_symbols: int = N_SYMBOLS, n_strategies: int = N_STRATEGIES,
                   seed: int = SEED) -> dict[str, np.ndarray]:
    """Random-walk 5m prices (0.10-0.20% per bar), a few gaps per symbol (1-6 bars, so some are stale
    feeds), funding settled every 96 bars, dynamic cost inputs, and sparse event signals (~0.2% of
    bars per strategy; horizons 3-288 bars, weights 0.005-0.02, entry lag 1-2 bars). Each strategy's
    signals are right about the direction of its holding window with a probability of 0.48-0.60 (a
    synthetic edge, so that some strategies stop on a drawdown and others survive, as in a real
    book). Also the gap-free prices of the vectorbt comparison (gaps filled with flat bars)."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_symbols)
    vol = rng.uniform(0.001, 0.002, n_symbols)
    base = np.exp(rng.uniform(np.log(0.5), np.log(50_000), n_symbols))
    close = base * np.exp(np.cumsum(rng.normal(0.0, 1.0, shape) * vol, axis=0))
    initial_close = base.copy()
    previous = np.vstack([initial_close[None, :], close[:-1]])
    open_ = previous * np.exp(rng.normal(0.0, 2e-4, shape))
    filled_close = close.copy()
    for column in range(n_symbols):
        for _ in range(4):
            start, length = int(rng.integers(1, n_bars - 10)), int(rng.integers(1, 7))
            open_[start:start + length, column] = np.nan
            close[start:start + length, column] = np.nan
    funding = np.zeros(shape)
    settles = np.arange(FUNDING_EVERY - 1, n_bars, FUNDING_EVERY)
    funding[settles] = rng.normal(1e-4, 1.5e-4, (settles.size, n_symbols))
    half_spread = rng.uniform(0.5, 2.5, shape)
    volatility_bps = vol[None, :] * 1e4 * rng.uniform(0.7, 1.3, shape)
    mean_volume = np.exp(rng.uniform(np.log(3e5), np.log(3e7), n_symbols))[None, :] * rng.uniform(0.8, 1.2, shape)
    last_volume = mean_volume * rng.gamma(2.0, 0.5, shape)

    symbol = np.arange(n_strategies, dtype=np.int64) % n_symbols
    weight = rng.uniform(0.005, 0.02, n_strategies)
    lag = rng.integers(1, 3, n_strategies).astype(np.int64)
    horizon = rng.integers(3, 289, n_strategies).astype(np.int64)
    hit_rate = rng.uniform(0.48, 0.60, n_strategies)
    fires = rng.random((n_bars, n_strategies)) < 0.002
    log_close = np.log(filled_close[:, symbol])
    bars = np.arange(n_bars)[:, None]
    entry = np.minimum(bars + lag[None, :] - 1, n_bars - 1)  # the mark before the first held bar
    exit_ = np.minimum(bars + lag[None, :] + horizon[None, :] - 1, n_bars - 1)
    direction = np.sign(np.take_along_axis(log_close, exit_, axis=0) - np.take_along_axis(log_close, entry, axis=0))
    direction[direction == 0] = 1
    right = rng.random((n_bars, n_strategies)) < hit_rate[None, :]
    signal = np.where(fires, np.where(right, direction, -direction), 0).astype(np.int8)

    return {"open": open_, "close": close, "funding": funding, "initial_close": initial_close,
            "half_spread_bps": half_spread, "volatility_bps": volatility_bps, "mean_quote_volume": mean_volume,
            "last_quote_volume": last_volume, "symbol": symbol, "weight": weight, "entry_lag": lag,
            "horizon": horizon, "signal": signal, **gap_free_prices(open_, close, initial_close)}


def gap_free_prices(open_: np.ndarray, close: np.ndarray, initial_close: np.ndarray) -> dict[str, np.ndarray]:
    """The vectorbt comparison's prices: a gap bar becomes a flat bar at the last known close."""
    from python_udfs.kill_switches import last_true_index

    known = np.isfinite(close)
    last = last_true_index(known)
    carried = np.where(last >= 0, np.take_along_axis(close, np.maximum(last, 0), axis=0), initial_close[None, :])
    gap = ~(known & np.isfinite(open_))
    return {"open_filled": np.where(gap, np.vstack([initial_close[None, :], carried[:-1]]), open_),
            "close_filled": np.where(gap, carried, close)}


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(case) as data:
        return {name: data[name] for name in data.files}


def _inputs(case: dict[str, np.ndarray], variant: str) -> tuple[Any, Any, Any]:
    """Market, book and settings of a variant: `full` (spec-like caps and switches, the real dynamic
    cost model), `tight_caps` (as `full` with caps that bind on many bars), `no_limits` (same, caps
    and switches off), `fees_only` (gap-free prices, no funding, taker fee only, caps and switches
    off: the vectorbt comparison) and `loop_check` (the loop baseline's model: original prices, taker
    fee and funding, caps and switches off)."""
    from python_udfs.backtest_config import KillSwitches, RiskLimits
    from python_udfs.backtest_engine import StrategyBook
    from python_udfs.backtest_pnl import EngineSettings, Market
    from python_udfs.cost_model import load_cost_config
    from python_udfs.execution_costs import CostInputs

    no_limits = RiskLimits(10.0, 10.0, 10.0, 10.0)
    no_switches = KillSwitches(100_000, 1.0, 1.0, 1000.0, 100_000)
    costs = load_cost_config()
    fees_only = replace(costs, execution_mode="taker", spread_floor_bps=0.0, impact_coefficient_bps=0.0,
                        volatility_coefficient=0.0, participation_coefficient_bps=0.0)
    inputs = CostInputs(case["half_spread_bps"], case["volatility_bps"], case["mean_quote_volume"],
                        case["last_quote_volume"])
    market = Market(case["open"], case["close"], case["funding"], inputs, case["initial_close"])
    if variant == "full":
        spec_like = (RiskLimits(0.25, 0.5, 1.0, 0.5), KillSwitches(3, 0.5, 0.25, 3.0, 20))  # spec/backtest.yaml
        settings = EngineSettings("next_open", 1e6, *spec_like, costs)
    elif variant == "tight_caps":
        # Caps well inside the book's weights (0.005-0.02 per strategy, ~0.36 gross): every layer binds.
        tight = (RiskLimits(0.01, 0.02, 0.2, 0.02), KillSwitches(3, 0.5, 0.25, 3.0, 20))
        settings = EngineSettings("next_open", 1e6, *tight, costs)
    elif variant == "no_limits":
        settings = EngineSettings("next_open", 1e6, no_limits, no_switches, costs)
    elif variant == "fees_only":
        settings = EngineSettings("next_open", 1e6, no_limits, no_switches, replace(fees_only, include_funding=False))
        market = Market(case["open_filled"], case["close_filled"], np.zeros_like(case["funding"]),
                        replace(inputs, half_spread_bps=np.zeros_like(inputs.half_spread_bps)), case["initial_close"])
    elif variant == "loop_check":
        settings = EngineSettings("next_open", 1e6, no_limits, no_switches, replace(fees_only, include_funding=True))
        market = replace(market, costs=replace(inputs, half_spread_bps=np.zeros_like(inputs.half_spread_bps)))
    else:
        raise ValueError(f"unknown variant {variant!r}")
    book = StrategyBook(case["symbol"], case["weight"], case["entry_lag"], case["horizon"], case["signal"])
    return market, book, settings


def _slice(case: dict[str, np.ndarray], n_bars: int) -> dict[str, np.ndarray]:
    return {name: values[:n_bars] if values.ndim == 2 else values for name, values in case.items()}


# --------------------------------------------------------------------------------------------------
# Measurements (each run in its own process by `_child`)
# --------------------------------------------------------------------------------------------------

def _best_of(repeats: int, run: Any) -> tuple[Any, list[float]]:
    """`run()` `repeats` times: its last result and the wall time of each run."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return result, times


def _measure_engine(case_path: str, variant: str, repeats: str = str(REPEATS)) -> dict[str, Any]:
    import python_udfs.backtest_engine as engine
    from python_udfs.risk_allocator import LAYER_NAMES

    market, book, settings = _inputs(_load(case_path), variant)
    result, times = _best_of(int(repeats), lambda: engine.run_backtest(market, book, settings))
    seconds = min(times)
    halts = Counter(halt.reason for halt in result.halts)
    strategy_total = np.nansum(result.strategies.net, axis=0)
    return {"bars": int(market.close.shape[0]), "strategies": int(book.symbol.size), "seconds": seconds,
            "runs_s": times, "chunk_bars": engine.CHUNK_BARS, "chunks": result.chunks,
            "sequential_bars": result.sequential_bars,
            "halts": dict(sorted(halts.items())),
            "halted_strategies": len({h.strategy for h in result.halts if h.reason != "data_staleness"}),
            "binding_cells": int(np.count_nonzero(result.binding_layer)),
            "binding_by_layer": {LAYER_NAMES[int(code)]: int(count) for code, count
                                 in zip(*np.unique(result.binding_layer[result.binding_layer > 0], return_counts=True))},
            "legs": int(np.count_nonzero(result.strategies.traded)),
            "portfolio_net": float(np.nansum(result.portfolio_net)),
            "strategy_net": [float(x) for x in strategy_total]}


def loop_backtest(open_: list[list[float]], close: list[list[float]], funding: list[list[float]],
                  initial_close: list[float], symbol: list[int], weight: list[float], lag: list[int],
                  horizon: list[int], signal: list[list[int]], fee: float) -> list[list[float]]:
    """The straightforward way: for each bar, for each strategy, plain floats. next_open fills, a new
    signal restarts the holding window, a gap bar holds the position (its PnL unknown when held),
    taker fee on each change of weight, funding paid by the weight held. Net PnL per bar and strategy."""
    n_bars, n_strategies = len(close), len(symbol)
    last_close = list(initial_close)
    side = [0] * n_strategies
    until = [-1] * n_strategies
    held = [0.0] * n_strategies
    net = []
    for k in range(n_bars):
        open_row, close_row, funding_row = open_[k], close[k], funding[k]
        row = [0.0] * n_strategies
        for s in range(n_strategies):
            u = k - lag[s]
            if u >= 0 and signal[u][s] != 0:
                side[s] = signal[u][s]
                until[s] = k + horizon[s] - 1
            target = side[s] * weight[s] if k <= until[s] else 0.0
            j = symbol[s]
            o, c = open_row[j], close_row[j]
            previous = held[s]
            if math.isnan(o) or math.isnan(c):
                position = previous
                gross = math.nan if position != 0.0 else 0.0
            else:
                position = target
                gross = 0.0
                if previous != 0.0:
                    gross += previous * (o / last_close[j] - 1.0)
                if position != 0.0:
                    gross += position * (c / o - 1.0)
            paid_funding = -position * funding_row[j] if position != 0.0 else 0.0
            row[s] = gross - abs(position - previous) * fee + paid_funding
            held[s] = position
        for j, c in enumerate(close_row):
            if not math.isnan(c):
                last_close[j] = c
        net.append(row)
    return net


def _measure_loop_baseline(case_path: str, n_bars: str, repeats: str = str(REPEATS)) -> dict[str, Any]:
    """The loop on the first `n_bars` bars (lists built before the clock starts), then checked
    against the engine on the same slice with the same model (fee + funding, no caps or halts)."""
    from python_udfs.backtest_engine import run_backtest

    case = _slice(_load(case_path), int(n_bars))
    market, book, settings = _inputs(case, "loop_check")
    args = (case["open"].tolist(), case["close"].tolist(), case["funding"].tolist(), case["initial_close"].tolist(),
            case["symbol"].tolist(), case["weight"].tolist(), case["entry_lag"].tolist(), case["horizon"].tolist(),
            case["signal"].tolist(), settings.costs.fee_bps * 1e-4)
    net, times = _best_of(int(repeats), lambda: loop_backtest(*args))
    engine = run_backtest(market, book, settings).strategies.net
    ours = np.asarray(net)
    if not np.array_equal(np.isnan(ours), np.isnan(engine)):
        raise AssertionError("loop baseline: unknown-PnL cells differ from the engine's")
    both = np.isfinite(ours)
    return {"bars": int(n_bars), "strategies": int(book.symbol.size), "seconds": min(times), "runs_s": times,
            "max_abs_diff_vs_engine": float(np.max(np.abs(ours[both] - engine[both])))}


VECTORBT_SCRIPT = PEAK_RSS_SOURCE + r'''
"""Run by the throwaway vectorbt venv: python this.py case.npz fee capital -> one JSON line."""
import json, resource, sys, time
import numpy as np
import vectorbt as vbt

def targets(signal, lag, horizon, weight):
    """The engine's holding windows (a new signal restarts the window), in numpy."""
    n = signal.shape[0]
    last = np.maximum.accumulate(np.where(signal != 0, np.arange(n)[:, None], -1), axis=0)
    rows = np.arange(n)[:, None] - lag[None, :]
    trigger = np.where(rows >= 0, np.take_along_axis(last, np.maximum(rows, 0), axis=0), -1)
    active = (trigger >= 0) & (np.arange(n)[:, None] < trigger + lag[None, :] + horizon[None, :])
    side = np.take_along_axis(signal, np.maximum(trigger, 0), axis=0).astype(np.float64)
    return np.where(active, side * weight[None, :], 0.0)

def run(open_, close, weights, fee, capital):
    """An order only where the target weight changes, for a target value of weight x capital, filled
    at the bar's open; marked at the close. Between orders the units are constant."""
    previous = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])
    size = np.where(weights != previous, weights * capital, np.nan)
    pf = vbt.Portfolio.from_orders(close=close, size=size, size_type="targetvalue", price=open_, fees=fee,
                                   init_cash=capital, direction="both", cash_sharing=False, freq="5min")
    return pf, np.asarray(pf.total_return(), dtype=np.float64)

case = np.load(sys.argv[1])
fee, capital, repeats = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
symbol = case["symbol"]
open_ = np.ascontiguousarray(case["open_filled"][:, symbol])
close = np.ascontiguousarray(case["close_filled"][:, symbol])
signal = case["signal"]
started = time.perf_counter()
weights = targets(signal, case["entry_lag"], case["horizon"], case["weight"])
targets_seconds = time.perf_counter() - started
started = time.perf_counter()
run(open_[:64, :3].copy(), close[:64, :3].copy(), weights[:64, :3].copy(), fee, capital)  # numba JIT warm-up
warmup_seconds = time.perf_counter() - started
times = []
for _ in range(repeats):
    started = time.perf_counter()
    pf, total = run(open_, close, weights, fee, capital)
    times.append(time.perf_counter() - started)
orders = int(pf.orders.count().sum())
print(json.dumps({"bars": int(close.shape[0]), "strategies": int(close.shape[1]), "seconds": min(times),
                  "runs_s": times,
                  "targets_seconds": targets_seconds, "warmup_seconds": warmup_seconds, "orders": orders,
                  "vectorbt": vbt.__version__, "strategy_net": [float(x) for x in total],
                  "peak_rss_mb": peak_rss_mb()}))
'''


PANDAS_LOOP_SCRIPT = PEAK_RSS_SOURCE + r'''
"""Run by the bench's pandas venv: python this.py case.npz n_bars fee repeats out.npy -> one JSON line.
loop_backtest's model written as a plain pandas loop: the market and signals in DataFrames, the
state in Series, one bar and one strategy at a time."""
import json, math, sys, time
import numpy as np
import pandas as pd

case = np.load(sys.argv[1])
n_bars, fee, repeats, out_path = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
open_ = pd.DataFrame(case["open"][:n_bars])
close = pd.DataFrame(case["close"][:n_bars])
funding = pd.DataFrame(case["funding"][:n_bars])
signal = pd.DataFrame(case["signal"][:n_bars])
strategies = pd.DataFrame({"symbol": case["symbol"], "weight": case["weight"], "lag": case["entry_lag"],
                           "horizon": case["horizon"]})

def run():
    last_close = pd.Series(case["initial_close"], dtype="float64")
    side = pd.Series(0, index=strategies.index)
    until = pd.Series(-1, index=strategies.index)
    held = pd.Series(0.0, index=strategies.index)
    net = pd.DataFrame(0.0, index=close.index, columns=strategies.index)
    for k in range(n_bars):
        open_row, close_row, funding_row = open_.iloc[k], close.iloc[k], funding.iloc[k]
        for s, strategy in strategies.iterrows():
            u = k - int(strategy["lag"])
            if u >= 0 and signal.iat[u, s] != 0:
                side.iat[s] = signal.iat[u, s]
                until.iat[s] = k + int(strategy["horizon"]) - 1
            target = side.iat[s] * strategy["weight"] if k <= until.iat[s] else 0.0
            j = int(strategy["symbol"])
            o, c, previous = open_row.iat[j], close_row.iat[j], held.iat[s]
            if math.isnan(o) or math.isnan(c):
                position = previous
                gross = math.nan if position != 0.0 else 0.0
            else:
                position = target
                gross = 0.0
                if previous != 0.0:
                    gross += previous * (o / last_close.iat[j] - 1.0)
                if position != 0.0:
                    gross += position * (c / o - 1.0)
            paid_funding = -position * funding_row.iat[j] if position != 0.0 else 0.0
            net.iat[k, s] = gross - abs(position - previous) * fee + paid_funding
            held.iat[s] = position
        last_close = last_close.where(close_row.isna(), close_row)
    return net

times = []
for _ in range(repeats):
    started = time.perf_counter()
    net = run()
    times.append(time.perf_counter() - started)
np.save(out_path, net.to_numpy())
print(json.dumps({"bars": n_bars, "strategies": int(strategies.shape[0]), "seconds": min(times), "runs_s": times,
                  "pandas": pd.__version__, "peak_rss_mb": peak_rss_mb()}))
'''


def _pandas_loop_row(workdir: Path, data_root: Path, case_path: Path) -> dict[str, object]:
    """loop_backtest's model as a plain pandas loop (in the bench's pandas venv) on the first
    PANDAS_LOOP_BARS bars, checked against the engine on the same slice; `skipped` when pandas
    cannot be installed or run."""
    from python_udfs.backtest_engine import run_backtest

    row: dict[str, object] = {
        "stage": "backtest",
        "case": f"pandas_loop_baseline: plain pandas loop over bars x strategies (DataFrames, Series state), RAN ON A "
                f"SLICE: first {PANDAS_LOOP_BARS:,} bars x {N_STRATEGIES} strategies; fee + funding only (no caps, "
                "halts, spread, impact, symbol rows)"}
    venv = (data_root / "bench" / "pandas-venv").resolve()
    python, status = bench_venv_python(venv, "pandas", VECTORBT_INSTALL_TIMEOUT_S)
    if python is None:
        return {**row, "status": f"skipped: {status}"}
    script, net_path = workdir / "bench_pandas_loop.py", workdir / "pandas_loop_net.npy"
    script.write_text(PANDAS_LOOP_SCRIPT)
    case = _slice(_load(str(case_path)), PANDAS_LOOP_BARS)
    market, book, settings = _inputs(case, "loop_check")
    fee = settings.costs.fee_bps * 1e-4
    try:
        out = subprocess.run([str(python), str(script), str(case_path), str(PANDAS_LOOP_BARS), repr(fee), str(REPEATS),
                              str(net_path)], capture_output=True, text=True, timeout=VECTORBT_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        return {**row, "status": f"skipped: {error}"}
    if out.returncode != 0:
        return {**row, "status": f"skipped: {out.stderr.strip()[-300:]}"}
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    pandas_net, engine_net = np.load(net_path), run_backtest(market, book, settings).strategies.net
    if not np.array_equal(np.isnan(pandas_net), np.isnan(engine_net)):
        raise AssertionError("pandas loop baseline: unknown-PnL cells differ from the engine's")
    both = np.isfinite(pandas_net)
    return {**row, "status": f"ok (venv {status}, pandas {theirs['pandas']})", "updates_per_s": round(_rate(theirs)),
            "seconds": round(theirs["seconds"], 3), "runs_s": _rounded(theirs["runs_s"]),
            "peak_rss_mb": round(theirs["peak_rss_mb"], 1), "slice_bars": PANDAS_LOOP_BARS,
            "max_abs_diff_vs_engine": float(np.max(np.abs(pandas_net[both] - engine_net[both])))}


def _run_vectorbt(python: Path, script: Path, case: Path, fee: float, capital: float) -> dict[str, Any]:
    out = subprocess.run([str(python), str(script), str(case), repr(fee), repr(capital), str(REPEATS)],
                         capture_output=True, text=True, timeout=VECTORBT_RUN_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"vectorbt run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(kind: str, *args: str) -> dict[str, Any]:
    from ingest.bench import run_measurement

    return run_measurement("bench_backtest", kind, *args)


# --------------------------------------------------------------------------------------------------
# The bench
# --------------------------------------------------------------------------------------------------

def _rounded(values: list[float]) -> list[float]:
    return [round(value, 2) for value in values]


def _rate(measured: dict[str, Any]) -> float:
    return measured["bars"] * measured["strategies"] / measured["seconds"]


def _engine_row(name: str, description: str, measured: dict[str, Any]) -> dict[str, object]:
    return {"stage": "backtest", "case": f"{name}: {description}", "updates_per_s": round(_rate(measured)),
            "seconds": round(measured["seconds"], 2), "runs_s": _rounded(measured["runs_s"]),
            "peak_rss_mb": round(measured["peak_rss_mb"], 1), "chunk_bars": measured["chunk_bars"],
            "chunks": measured["chunks"],
            "sequential_bars": measured["sequential_bars"], "halts": measured["halts"],
            "halted_strategies": measured["halted_strategies"], "binding_cells": measured["binding_cells"],
            "binding_by_layer": measured["binding_by_layer"],
            "legs": measured["legs"], "portfolio_net": round(measured["portfolio_net"], 4)}


def _vectorbt_row(workdir: Path, data_root: Path, case_path: Path, case: str) -> dict[str, object]:
    """vectorbt and the engine on the configuration where their models agree; a `skipped` row when
    vectorbt cannot be installed or run."""
    from python_udfs.cost_model import load_cost_config

    row: dict[str, object] = {
        "stage": "backtest",
        "case": f"vectorbt: {case}, funding-free, gap-free prices, no caps/halts, taker fee only, fills at the open "
                "(Portfolio.from_orders, target value at weight changes; timed: construction + total_return)"}
    venv = (data_root / "bench" / "vectorbt-venv").resolve()
    print(f"bench: vectorbt comparison (venv {venv}; the first run installs vectorbt, minutes)...", flush=True)
    python, status = bench_venv_python(venv, "vectorbt", VECTORBT_INSTALL_TIMEOUT_S)
    if python is None:
        return {**row, "status": f"skipped: {status}"}
    script = workdir / "bench_vectorbt.py"
    script.write_text(VECTORBT_SCRIPT)
    try:
        theirs = _run_vectorbt(python, script, case_path, load_cost_config().taker_fee_bps * 1e-4, 1e6)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return {**row, "status": f"skipped: {str(error).strip()[-300:]}"}
    ours = _child("engine", str(case_path), "fees_only")
    engine_net, vbt_net = np.asarray(ours["strategy_net"]), np.asarray(theirs["strategy_net"])
    return {
        **row, "status": f"ok (venv {status}, vectorbt {theirs['vectorbt']})",
        "updates_per_s": round(_rate(theirs)), "seconds": round(theirs["seconds"], 2),
        "runs_s": _rounded(theirs["runs_s"]), "targets_seconds": round(theirs["targets_seconds"], 2),
        "jit_warmup_seconds": round(theirs["warmup_seconds"], 1), "peak_rss_mb": round(theirs["peak_rss_mb"], 1),
        "orders": theirs["orders"], "engine_updates_per_s": round(_rate(ours)),
        "engine_seconds": round(ours["seconds"], 2), "engine_runs_s": _rounded(ours["runs_s"]),
        "engine_peak_rss_mb": round(ours["peak_rss_mb"], 1), "engine_legs": ours["legs"],
        "engine_speedup_vs_vectorbt": round(_rate(ours) / _rate(theirs), 2),
        "portfolio_net_engine": round(float(engine_net.sum()), 5),
        "portfolio_net_vectorbt": round(float(vbt_net.sum()), 5),
        "max_abs_diff_strategy_net": round(float(np.max(np.abs(engine_net - vbt_net))), 6),
        "model_difference": "vectorbt holds constant units between orders (the notional drifts with the price), "
                            "the engine a constant notional (PnL = weight x sum of bar returns)",
    }


def _engine_rows(workdir: Path) -> tuple[Path, dict[str, dict[str, Any]], list[dict[str, object]]]:
    """The synthetic case written under `workdir`, and each ENGINE_VARIANTS row measured on it: the
    case's path, the measurements by row name, and the rows."""
    case_path = Path(workdir) / "backtest_case.npz"
    np.savez(case_path, **synthetic_case())
    measured = {name: _child("engine", str(case_path), variant) for name, (variant, _) in ENGINE_VARIANTS.items()}
    rows = [_engine_row(name, f"{CASE}, {description}", measured[name])
            for name, (_, description) in ENGINE_VARIANTS.items()]
    return case_path, measured, rows


def bench_engine(workdir: Path) -> list[dict[str, object]]:
    """Only the engine rows of bench_backtest (same case, same measurement), without the loop
    baseline and vectorbt: the quick check while working on the engine
    (`python -m ingest.bench_backtest --engine-only`)."""
    return _engine_rows(workdir)[2]


def bench_backtest(workdir: Path, data_root: Path | None = None) -> list[dict[str, object]]:
    """Result rows (same shape as ingest/bench.py's) for the engine with and without caps and kill
    switches, the plain-loop baseline and the vectorbt comparison, all on one synthetic case.
    Timings are the fastest of REPEATS runs in one process (the machine may be busy)."""
    workdir = Path(workdir)
    data_root = data_root or Path(os.environ.get("BACKTEST_DATA_ROOT", "data"))
    case_path, measured, results = _engine_rows(workdir)
    full, no_limits = measured["engine_full"], measured["engine_no_limits"]
    base = _child("loop_baseline", str(case_path), str(BASELINE_BARS))
    results.append(
        {"stage": "backtest",
         "case": f"numpy_loop_baseline: plain Python loop over bars x strategies (floats), RAN ON A SLICE: first "
                 f"{base['bars']:,} bars x {base['strategies']} strategies; fee + funding only (no caps, halts, "
                 "spread, impact, symbol rows)",
         "updates_per_s": round(_rate(base)), "seconds": round(base["seconds"], 3), "runs_s": _rounded(base["runs_s"]),
         "peak_rss_mb": round(base["peak_rss_mb"], 1), "slice_bars": base["bars"],
         "max_abs_diff_vs_engine": base["max_abs_diff_vs_engine"],
         "engine_full_speedup_vs_baseline": round(_rate(full) / _rate(base), 2),
         "engine_no_limits_speedup_vs_baseline": round(_rate(no_limits) / _rate(base), 2)})
    pandas_loop = _pandas_loop_row(workdir, data_root, case_path)
    if "updates_per_s" in pandas_loop:
        pandas_loop.update(engine_full_speedup_vs_baseline=round(_rate(full) / float(pandas_loop["updates_per_s"]), 1),
                           engine_tight_caps_speedup_vs_baseline=round(
                               _rate(measured["engine_tight_caps"]) / float(pandas_loop["updates_per_s"]), 1))
    results.append(pandas_loop)
    results.append(_vectorbt_row(workdir, data_root, case_path, CASE))
    return results


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from ingest.bench import print_table

    engine_only = "--engine-only" in (sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        results = bench_engine(Path(tmp)) if engine_only else bench_backtest(Path(tmp))
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
