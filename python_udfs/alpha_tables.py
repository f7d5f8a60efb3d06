"""Arrow tables in, Arrow tables out: the glue between the alpha bundle's dbt Python models and the
numpy code (python_udfs/alpha_bundle.py, and the engine's target-weights path).

Why a module of its own: the dbt models stay a few lines (read refs, call one function), and the
conversions (long rows to signals x bars x symbols grids and back) are tested without dbt. No
pandas: each table is held once, as numpy columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.alpha_bundle import (book_weights, combination_weights, combine, cross_section_scores, factor_returns,
                                      gate, hold_decisions, orthogonalise, rebalance_bars, rolling_volatility)
from python_udfs.alpha_spec import AlphaSpec
from python_udfs.backtest_config import BacktestConfig
from python_udfs.backtest_engine import PORTFOLIO, WeightsResult, run_target_weights
from python_udfs.backtest_pnl import Components, Market
from python_udfs.backtest_tables import engine_settings
from python_udfs.cost_model import CostConfig
from python_udfs.execution_costs import CostInputs
from python_udfs.risk_allocator import LAYER_NAMES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TS = pa.timestamp("us", tz="UTC")
LABEL = pa.dictionary(pa.int32(), pa.string())
"""Key columns repeated over millions of rows (signal, symbol, stage, variant): dictionary-encoded."""
BAR_US = 300_000_000
STAGES = ("score", "residual", "signal")
"""Factor-return stages: the scores before orthogonalisation, the residuals after it, and the traded
signal (the residuals with the regime filters applied)."""

SIGNAL_SCHEMA = pa.schema([
    ("signal_name", LABEL), ("symbol", LABEL), ("ts", TS), ("n_symbols", pa.int64()),
    ("score", pa.float64()), ("residual", pa.float64()), ("signal_value", pa.float64()), ("regime_on", pa.bool_()),
    ("estimation_rows", pa.int64()),
])
FACTOR_RETURN_SCHEMA = pa.schema([
    ("signal_name", LABEL), ("stage", LABEL), ("ts", TS), ("factor_return", pa.float64()),
    ("cumulative_return", pa.float64()),
])
WEIGHT_SCHEMA = pa.schema([
    ("variant", LABEL), ("symbol", LABEL), ("ts", TS), ("combined_score", pa.float64()),
    ("is_rebalance_bar", pa.bool_()), ("decision_weight", pa.float64()), ("decided_at", TS),
])
SIMULATION_SCHEMA = pa.schema([
    ("variant", pa.string()), ("row_kind", pa.string()), ("symbol", pa.string()), ("ts", TS),
    ("target_weight", pa.float64()), ("decided_at", TS), ("position", pa.float64()), ("traded", pa.float64()),
    ("gross", pa.float64()), ("fees", pa.float64()), ("spread", pa.float64()), ("impact", pa.float64()),
    ("funding", pa.float64()), ("net", pa.float64()), ("binding_layer", pa.string()), ("halt_reason", pa.string()),
    ("halt_value", pa.float64()), ("execution_mode", pa.string()),
])
COMPONENTS = ("position", "traded", "gross", "fees", "spread", "impact", "funding", "net")


# --------------------------------------------------------------------------------------------------
# Long rows <-> grids
# --------------------------------------------------------------------------------------------------

def micros(column: pa.ChunkedArray | pa.Array) -> IntArray:
    """UTC microseconds of a timestamp column (its buffer read as int64; the timezone is a label)."""
    if column.type.unit != "us":
        column = column.cast(TS)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.where(chunk.is_valid().to_numpy(zero_copy_only=False),
                                    chunk.view(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False),
                                    np.iinfo(np.int64).min) if chunk.null_count else
                           chunk.view(pa.int64()).to_numpy(zero_copy_only=False) for chunk in chunks])


def codes(column: pa.ChunkedArray | pa.Array, names: list[str]) -> IntArray:
    """Index of each value of a string column in `names` (-1 when absent or NULL), in Arrow; a
    dictionary-encoded column is looked up once per dictionary entry."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    value_set = pa.array(names, pa.string())
    out = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            lookup = pc.fill_null(pc.index_in(chunk.dictionary.cast(pa.string()), value_set=value_set), -1)
            positions = pc.fill_null(chunk.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
            mapped = np.append(lookup.to_numpy(zero_copy_only=False).astype(np.int64), -1)
            out.append(mapped[positions])
        else:
            out.append(pc.fill_null(pc.index_in(chunk, value_set=value_set), -1).to_numpy(zero_copy_only=False)
                       .astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def floats(column: pa.ChunkedArray | pa.Array) -> FloatArray:
    return pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False).astype(np.float64)


@dataclass(frozen=True)
class Grid:
    """The bars (UTC open times in microseconds, sorted) and symbols (sorted) of a long table."""

    timestamps: IntArray
    symbols: list[str]

    @classmethod
    def of(cls, *tables: pa.Table) -> Grid:
        # distinct values hashed in Arrow first: sorting millions of (symbol, signal) rows' times is slow
        stamps = np.unique(np.concatenate([micros(pc.unique(t.column("ts"))) for t in tables])) if tables else \
            np.zeros(0, np.int64)
        symbols = sorted(set().union(*(pc.unique(t.column("symbol")).to_pylist() for t in tables)))
        return cls(stamps.astype(np.int64), [s for s in symbols if s is not None])

    @property
    def shape(self) -> tuple[int, int]:
        return self.timestamps.size, len(self.symbols)

    def cells(self, table: pa.Table) -> tuple[IntArray, IntArray]:
        """Row (bar) and column (symbol) of every row of `table` (its bars and symbols must be in the grid)."""
        return np.searchsorted(self.timestamps, micros(table.column("ts"))), codes(table.column("symbol"), self.symbols)

    def matrix(self, table: pa.Table, column: str) -> FloatArray:
        out = np.full(self.shape, np.nan)
        rows, cols = self.cells(table)
        out[rows, cols] = floats(table.column(column))
        return out


def signal_grids(table: pa.Table, grid: Grid, names: list[str], columns: tuple[str, ...]) -> dict[str, FloatArray]:
    """(S x T x N) grids of `columns` of a long (signal_name, symbol, ts, ...) table, signals in the
    order of `names` (NaN where a row is missing; booleans as 1.0 / 0.0)."""
    shape = (len(names), *grid.shape)
    out = {column: np.full(shape, np.nan) for column in columns}
    signal = codes(table.column("signal_name"), names)
    rows, cols = grid.cells(table)
    keep = signal >= 0
    every = bool(keep.all())
    cells = np.ravel_multi_index((signal, rows, cols) if every else (signal[keep], rows[keep], cols[keep]), shape)
    for column in columns:
        values = table.column(column)
        if pa.types.is_boolean(values.type):
            values = values.cast(pa.float64())
        out[column].reshape(-1)[cells] = floats(values) if every else floats(values)[keep]
    return out


def _labels(names: list[str], codes: npt.NDArray[np.int64]) -> pa.Array:
    """A string column from codes into `names`, dictionary-encoded (DuckDB stores it as VARCHAR; a
    decoded copy of millions of repeated strings would cost memory and time for nothing)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(names, pa.string()))


def _float_column(values: FloatArray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _long(grid: Grid, keys: list[str], key_column: str, arrays: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """Rows for every (key, symbol, bar) of (K x T x N) arrays, ordered by key, symbol, ts."""
    n_keys, (n_bars, n_symbols) = len(keys), grid.shape
    key = np.repeat(np.arange(n_keys), n_symbols * n_bars)
    symbol = np.tile(np.repeat(np.arange(n_symbols), n_bars), n_keys)
    bar = np.tile(np.arange(n_bars), n_keys * n_symbols)
    data: dict[str, Any] = {key_column: _labels(keys, key), "symbol": _labels(grid.symbols, symbol),
                            "ts": pa.array(grid.timestamps[bar], TS)}
    for name, values in arrays.items():
        flat = np.ascontiguousarray(np.swapaxes(values, 1, 2)).reshape(-1)   # key, symbol, bar
        field = schema.field(name)
        if pa.types.is_floating(field.type):
            data[name] = _float_column(flat.astype(np.float64))
        elif pa.types.is_boolean(field.type):
            data[name] = pa.array(flat > 0.5, pa.bool_(), mask=np.isnan(flat))
        elif pa.types.is_timestamp(field.type):
            data[name] = pa.array(flat, pa.int64(), mask=flat < np.iinfo(np.int64).min + 1).cast(TS)
        else:
            data[name] = pa.array(flat, field.type)
    return pa.table({name: data[name] for name in schema.names}, schema=schema)


# --------------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------------

def signal_table(values: pa.Table, factors: pa.Table, spec: AlphaSpec) -> pa.Table:
    """int_alpha__signals: every signal's score per bar among the symbols with a value (its
    transform), residualised on the factor exposures and the other signals (spec/alpha/bundle.yaml
    orthogonalisation), and the traded signal after the regime filters. `values`: (signal_name,
    symbol, ts, raw_value, regime_on); `factors`: (symbol, ts, <factor>...)."""
    if values.num_rows == 0:
        return SIGNAL_SCHEMA.empty_table()
    names = [s.name for s in spec.signals]
    grid = Grid.of(values)
    grids = signal_grids(values, grid, names, ("raw_value", "regime_on"))
    scores = np.full(grids["raw_value"].shape, np.nan)
    counts = np.zeros(grids["raw_value"].shape[:2], dtype=np.int64)
    for index, signal in enumerate(spec.signals):
        scores[index], counts[index] = cross_section_scores(grids["raw_value"][index], signal.transform, spec.min_symbols)
    setting = spec.orthogonalisation
    exposures = np.stack([grid.matrix(factors, name) for name in setting.factors]) if setting.factors else \
        np.zeros((0, *grid.shape))
    residuals, n_obs = orthogonalise(scores, exposures, intercept=setting.intercept, method=setting.method,
                                     window=setting.estimation_window_bars if setting.window == "rolling" else None,
                                     min_obs=setting.min_observations)
    regime_on = grids["regime_on"]
    values_traded = gate(residuals, regime_on > 0.5)
    shape = residuals.shape
    return _long(grid, names, "signal_name", {
        "n_symbols": np.broadcast_to(counts[:, :, None], shape), "score": scores, "residual": residuals,
        "signal_value": values_traded, "regime_on": regime_on,
        "estimation_rows": np.broadcast_to(n_obs[:, :, None], shape)}, SIGNAL_SCHEMA)


def _bar_returns(grid: Grid, features: pa.Table) -> FloatArray:
    """Simple return of each bar (exp(ret_1) - 1; NaN at a gap and the bar after it)."""
    return np.expm1(grid.matrix(features, "ret_1"))


def factor_return_table(residuals: pa.Table, features: pa.Table, spec: AlphaSpec) -> pa.Table:
    """int_alpha__factor_returns: per signal, stage (score, residual, signal) and bar, the return
    over the bar of the dollar-neutral unit-gross book formed at the previous bar's close, and the
    running sum of the known ones. `residuals`: int_alpha__signals rows; `features`: (symbol, ts, ret_1)."""
    if residuals.num_rows == 0:
        return FACTOR_RETURN_SCHEMA.empty_table()
    names = [s.name for s in spec.signals]
    grid = Grid.of(residuals)
    grids = signal_grids(residuals, grid, names, ("score", "residual", "signal_value"))
    returns = _bar_returns(grid, features)
    out = [factor_returns(grids[column], returns, spec.min_symbols) for column in ("score", "residual", "signal_value")]
    stacked = np.stack(out, axis=1)            # signal, stage, bar
    n_signals, n_stages, n_bars = stacked.shape
    signal = np.repeat(np.arange(n_signals), n_stages * n_bars)
    stage = np.tile(np.repeat(np.arange(n_stages), n_bars), n_signals)
    bar = np.tile(np.arange(n_bars), n_signals * n_stages)
    cumulative = np.cumsum(np.nan_to_num(stacked), axis=2)
    return pa.table({"signal_name": _labels(names, signal), "stage": _labels(list(STAGES), stage),
                     "ts": pa.array(grid.timestamps[bar], TS), "factor_return": _float_column(stacked.reshape(-1)),
                     "cumulative_return": _float_column(cumulative.reshape(-1))}, schema=FACTOR_RETURN_SCHEMA)


def combined_scores(residuals: pa.Table, factor_return_rows: pa.Table, spec: AlphaSpec) -> tuple[Grid, FloatArray]:
    """The grid and the (T x N) combined score: the traded signals weighted by the spec weights, times
    1 / the rolling volatility of their residual factor returns (combination.method inverse_volatility)."""
    names = [s.name for s in spec.signals]
    grid = Grid.of(residuals)
    values = signal_grids(residuals, grid, names, ("signal_value",))["signal_value"]
    base = np.array([s.weight for s in spec.signals])
    volatility = None
    if spec.combination.method == "inverse_volatility":
        residual_rows = factor_return_rows.filter(pc.equal(factor_return_rows.column("stage"), "residual"))
        series = np.full((len(names), grid.timestamps.size), np.nan)
        signal = codes(residual_rows.column("signal_name"), names)
        rows = np.searchsorted(grid.timestamps, micros(residual_rows.column("ts")))
        inside = (signal >= 0) & (rows < grid.timestamps.size)
        series[signal[inside], rows[inside]] = floats(residual_rows.column("factor_return"))[inside]
        volatility = rolling_volatility(series, spec.combination.volatility_window_bars,
                                        spec.combination.min_observations)
    return grid, combine(values, combination_weights(base, volatility))


def target_weight_table(residuals: pa.Table, factor_return_rows: pa.Table, spec: AlphaSpec) -> pa.Table:
    """int_alpha__target_weights: per portfolio variant, symbol and bar, the combined score, whether
    the bar is a decision bar, and the weight in force after the bar's close (decided at
    `decided_at`, held from the next bar at the earliest)."""
    if residuals.num_rows == 0:
        return WEIGHT_SCHEMA.empty_table()
    grid, combined = combined_scores(residuals, factor_return_rows, spec)
    book = spec.portfolio
    decision = rebalance_bars(grid.timestamps // BAR_US, book.rebalance_every_bars)
    weights, decided, flags = [], [], []
    for variant in book.variants:
        wanted = book_weights(combined, variant, book.gross_leverage, book.max_symbol_weight, spec.min_symbols)
        held, latest = hold_decisions(wanted, decision)
        weights.append(held)
        stamp = np.where(latest >= 0, grid.timestamps[np.maximum(latest, 0)], np.iinfo(np.int64).min)
        decided.append(np.broadcast_to(stamp[:, None], grid.shape))
        flags.append(np.broadcast_to(decision[:, None].astype(np.float64), grid.shape))
    variants = list(book.variants)
    n = len(variants)
    return _long(grid, variants, "variant", {
        "combined_score": np.broadcast_to(combined, (n, *grid.shape)), "is_rebalance_bar": np.stack(flags),
        "decision_weight": np.stack(weights), "decided_at": np.stack(decided)}, WEIGHT_SCHEMA)


# --------------------------------------------------------------------------------------------------
# The backtest through the engine's target-weights path
# --------------------------------------------------------------------------------------------------

def market_of(market: pa.Table, symbols: list[str]) -> tuple[Grid, Market]:
    """The engine's market (bars x symbols) from int_backtest__market_bars rows."""
    grid = Grid(np.unique(micros(market.column("ts"))), symbols)
    rows, cols = grid.cells(market)

    def matrix(name: str) -> FloatArray:
        out = np.full(grid.shape, np.nan)
        out[rows, cols] = floats(market.column(name))
        return out

    initial = np.full(len(symbols), np.nan)
    first = np.full(len(symbols), np.iinfo(np.int64).max)
    np.minimum.at(first, cols, rows)
    at_first = rows == first[cols]
    initial[cols[at_first]] = floats(market.column("previous_close"))[at_first]
    return grid, Market(matrix("open"), matrix("close"), matrix("funding_rate"),
                        CostInputs(matrix("half_spread_bps"), matrix("volatility_bps"), matrix("mean_quote_volume"),
                                   matrix("last_quote_volume")), initial)


def _rows(variant: str, kind: str, grid: Grid, rows: IntArray, cols: IntArray, parts: dict[str, FloatArray],
          symbols: list[str | None], extra: dict[str, pa.Array], mode: str) -> pa.Table:
    data: dict[str, Any] = {"variant": pa.array([variant] * rows.size, pa.string()),
                            "row_kind": pa.array([kind] * rows.size, pa.string()),
                            "symbol": pa.array([symbols[c] for c in cols], pa.string()),
                            "ts": pa.array(grid.timestamps[rows], TS)}
    for name in ("target_weight", *COMPONENTS):
        data[name] = _float_column(parts[name][rows, cols]) if name in parts else pa.nulls(rows.size, pa.float64())
    for name in ("decided_at", "binding_layer", "halt_reason", "halt_value"):
        data[name] = extra.get(name, pa.nulls(rows.size, SIMULATION_SCHEMA.field(name).type))
    data["execution_mode"] = pa.array([mode] * rows.size, pa.string())
    return pa.table({name: data[name] for name in SIMULATION_SCHEMA.names}, schema=SIMULATION_SCHEMA)


def _variant_rows(variant: str, grid: Grid, result: WeightsResult, decided_us: IntArray, mode: str) -> list[pa.Table]:
    symbols: Components = result.symbols
    parts = {name: getattr(symbols, name) for name in COMPONENTS}
    parts["target_weight"] = result.targets
    tables = []
    rows, cols = np.nonzero((symbols.position != 0) | (symbols.traded != 0) | (result.targets != 0))
    layers = result.binding_layer[rows, cols]
    decided = decided_us[rows]
    tables.append(_rows(variant, "symbol", grid, rows, cols, parts, list(grid.symbols), {
        "binding_layer": pa.array([LAYER_NAMES[int(x)] for x in layers], pa.string()),
        "decided_at": pa.array(decided, pa.int64(), mask=decided == np.iinfo(np.int64).min).cast(TS)}, mode))
    book = {name: np.nansum(parts[name], axis=1, keepdims=True) for name in COMPONENTS[1:]}
    book["position"] = np.abs(symbols.position).sum(axis=1, keepdims=True)
    book["target_weight"] = np.abs(result.targets).sum(axis=1, keepdims=True)
    book["net"] = result.portfolio_net[:, None]
    every = np.arange(grid.timestamps.size)
    tables.append(_rows(variant, "portfolio", grid, every, np.zeros_like(every), book, [None], {
        "decided_at": pa.array(decided_us, pa.int64(), mask=decided_us == np.iinfo(np.int64).min).cast(TS)}, mode))
    if result.halts:
        halts = result.halts
        n = len(halts)
        whole = [h.strategy == PORTFOLIO for h in halts]
        data: dict[str, Any] = {name: pa.nulls(n, SIMULATION_SCHEMA.field(name).type) for name in SIMULATION_SCHEMA.names}
        data.update({"variant": pa.array([variant] * n, pa.string()), "row_kind": pa.array(["halt"] * n, pa.string()),
                     "symbol": pa.array([None if w else grid.symbols[h.strategy] for h, w in zip(halts, whole)],
                                        pa.string()),
                     "ts": pa.array(grid.timestamps[[h.bar for h in halts]], TS),
                     "halt_reason": pa.array([h.reason for h in halts], pa.string()),
                     "halt_value": pa.array([h.value for h in halts], pa.float64()),
                     "execution_mode": pa.array([mode] * n, pa.string())})
        tables.append(pa.table(data, schema=SIMULATION_SCHEMA))
    return tables


def alpha_simulation(weights: pa.Table, market: pa.Table, spec: AlphaSpec, config: BacktestConfig,
                     costs: CostConfig) -> pa.Table:
    """int_alpha__simulation: every portfolio variant's book through the engine's target-weights
    path over the backtest window. The target of bar k is the weight in force after the close of bar
    k - execution_lag_bars (0 when that bar is not in the weights table). `weights`: rows of
    int_alpha__target_weights (variant, symbol, ts, decision_weight, decided_at); `market`: rows of
    int_backtest__market_bars."""
    if market.num_rows == 0 or weights.num_rows == 0:
        return SIMULATION_SCHEMA.empty_table()
    symbols = sorted(set(pc.unique(market.column("symbol")).to_pylist()) | set(pc.unique(weights.column("symbol")).to_pylist()))
    grid, engine_market = market_of(market, symbols)
    lag = spec.portfolio.execution_lag_bars
    settings = engine_settings(config, costs)
    never = np.iinfo(np.int64).min
    tables: list[pa.Table] = []
    for variant in spec.portfolio.variants:
        mine = weights.filter(pc.equal(weights.column("variant"), variant))
        decisions = Grid(np.unique(micros(mine.column("ts"))), symbols)
        rows, cols = decisions.cells(mine)
        held = np.zeros(decisions.shape)
        held[rows, cols] = np.nan_to_num(floats(mine.column("decision_weight")))
        stamp = np.full(decisions.timestamps.size, never)
        stamp[rows] = micros(mine.column("decided_at"))
        # the target of bar k: the weights in force after the close of bar k - lag
        source = np.searchsorted(decisions.timestamps, grid.timestamps - lag * BAR_US)
        found = source < decisions.timestamps.size
        found[found] &= decisions.timestamps[source[found]] == grid.timestamps[found] - lag * BAR_US
        source = np.minimum(source, max(decisions.timestamps.size - 1, 0))
        targets = np.where(found[:, None], held[source], 0.0)
        decided_us = np.where(found, stamp[source], never)
        # the engine drops a target decided before a symbol's stale feed ended: it needs the bar of
        # the decision itself (on the window's regular grid; negative before the window)
        decided_rows = np.where(decided_us != never, (decided_us - grid.timestamps[0]) // BAR_US,
                                np.arange(grid.timestamps.size, dtype=np.int64) - lag)
        result = run_target_weights(engine_market, targets, settings, decided_rows)
        tables += _variant_rows(variant, grid, result, decided_us, config.execution_mode)
    return pa.concat_tables(tables)


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------

def bundle_summary_table(pnl: pa.Table, halts: pa.Table) -> pa.Table:
    """fct_alpha_bundle_summary: per variant, its portfolio and each symbol, the backtest summary of
    python_udfs/performance_metrics.py (the blueprints' metrics: return, volatility, Sharpe, Sortino,
    drawdown, turnover, cost and funding shares, PSR), the variant's first kill-switch halt, and the
    DSR of the per-bar Sharpe ratio over the variants (the bundle's trials). The blueprints' DSR
    deflates a per-trade Sharpe ratio against the phase 2 trials; a book that resizes every day has
    no discrete trades to count, and its trials are the portfolio variants, so here the DSR is per
    bar (sharpe_per_trade is still given for the symbol rows' runs of one sign).
    `pnl`: fct_alpha_bundle_pnl rows; `halts`: (variant, symbol, ts, halt_reason, halt_value)."""
    from python_udfs.backtest_summary import SERIES, trades_of
    from python_udfs.performance_metrics import BarSeries, Trades, performance_summary
    from python_udfs.sharpe import deflated_sharpe_ratio, sharpe_stats

    schema = bundle_summary_schema()
    if pnl.num_rows == 0:
        return schema.empty_table()
    portfolio = pnl.filter(pc.equal(pnl.column("level"), "portfolio"))
    grid = np.unique(micros(portfolio.column("ts")))
    keys = pc.binary_join_element_wise(pnl.column("variant"), pnl.column("level"), pnl.column("symbol").fill_null(""),
                                       "|").to_numpy(zero_copy_only=False)
    names, group = np.unique(keys, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(names.size + 1))
    series: dict[tuple[str, str, str | None], dict[str, FloatArray]] = {}
    for index, name in enumerate(names):
        variant, level, symbol = str(name).split("|")
        rows = pnl.take(pa.array(order[bounds[index]:bounds[index + 1]]))
        at = np.searchsorted(grid, micros(rows.column("ts")))
        values = {}
        for column in SERIES:
            out = np.zeros(grid.size)
            out[at] = floats(rows.column(column))
            values[column] = out
        series[(variant, level, symbol or None)] = values
    variants = sorted({key[0] for key in series})
    sharpes = np.array([sharpe_stats(series[(v, "portfolio", None)]["net"]).sr for v in variants
                        if (v, "portfolio", None) in series])
    finite = sharpes[np.isfinite(sharpes)]
    var_trial_sharpe = float(finite.var(ddof=1)) if finite.size > 1 else float("nan")
    first_halt = {}
    for variant, symbol, ts, reason, value in zip(*(halts.column(c).to_pylist() for c in
                                                     ("variant", "symbol", "ts", "halt_reason", "halt_value"))):
        if symbol is None and (variant not in first_halt or ts < first_halt[variant][0]):
            first_halt[variant] = (ts, reason, value)
    out = []
    for (variant, level, symbol), values in sorted(series.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        bars = BarSeries(values["net"], values["gross"], values["fees"], values["spread"], values["impact"],
                         values["funding"], np.abs(values["position"]), values["traded"])
        trades = trades_of(values["position"], values["net"]) if level == "symbol" else Trades.empty()
        metrics = performance_summary(bars, trades, max(len(variants), 1), var_trial_sharpe)
        per_bar = sharpe_stats(values["net"])
        metrics["dsr"] = float(deflated_sharpe_ratio(per_bar.sr, per_bar.n_obs, max(len(variants), 1), var_trial_sharpe,
                                                     per_bar.skew, per_bar.kurtosis))
        halt = first_halt.get(variant) if level == "portfolio" else None
        out.append({"variant": variant, "strategy_id": f"alpha_bundle:{variant}", "level": level, "symbol": symbol,
                    **metrics, "n_trials": len(variants), "var_trial_sharpe": var_trial_sharpe,
                    "halted_at": halt[0] if halt else None, "halt_reason": halt[1] if halt else None,
                    "halt_value": halt[2] if halt else None})
    return pa.Table.from_pylist(out, schema=schema)


def bundle_summary_schema() -> pa.Schema:
    from python_udfs.backtest_summary import summary_schema

    metrics = [field for field in summary_schema() if field.name not in ("level", "strategy_id", "symbol")]
    return pa.schema([("variant", pa.string()), ("strategy_id", pa.string()), ("level", pa.string()),
                      ("symbol", pa.string()), *metrics, ("halted_at", TS), ("halt_reason", pa.string()),
                      ("halt_value", pa.float64())])
