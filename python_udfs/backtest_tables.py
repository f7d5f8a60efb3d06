"""Arrow tables in, Arrow tables out: the glue between the backtest models and the engine.

Why a module of its own: the dbt Python models stay a few lines (read refs, call one function), and
the conversion (a long market table to bars x symbols matrices, signals to a bars x strategies
matrix, the engine's matrices back to long rows) is tested without dbt. No pandas: the bar table is
held once, as numpy columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from python_udfs.backtest_config import BacktestConfig
from python_udfs.backtest_engine import PORTFOLIO, BacktestResult, StrategyBook, run_backtest
from python_udfs.backtest_pnl import Components, EngineSettings, Market
from python_udfs.cost_model import CostConfig
from python_udfs.execution_costs import CostInputs
from python_udfs.risk_allocator import LAYER_NAMES

FloatArray = npt.NDArray[np.float64]

SIMULATION_SCHEMA = pa.schema([
    ("row_kind", pa.string()), ("strategy_id", pa.string()), ("symbol", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")), ("position", pa.float64()), ("traded", pa.float64()),
    ("gross", pa.float64()), ("fees", pa.float64()), ("spread", pa.float64()), ("impact", pa.float64()),
    ("funding", pa.float64()), ("net", pa.float64()), ("expected_slippage", pa.float64()),
    ("binding_layer", pa.string()), ("halt_reason", pa.string()), ("halt_value", pa.float64()),
    ("execution_mode", pa.string()),
])
COMPONENTS = ("position", "traded", "gross", "fees", "spread", "impact", "funding", "net", "expected_slippage")


def _floats(table: pa.Table, name: str) -> FloatArray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def _micros(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    column = table.column(name).cast(pa.timestamp("us", tz="UTC"))
    return column.cast(pa.int64()).to_numpy(zero_copy_only=False)


class EngineInputs:
    """The engine's matrices, with the labels (timestamps, symbols, strategy ids) to write rows back."""

    def __init__(self, strategies: pa.Table, signals: pa.Table, market: pa.Table) -> None:
        strategy_index = strategies.column("strategy_index").to_numpy(zero_copy_only=False).astype(np.int64)
        order = np.argsort(strategy_index)
        if not np.array_equal(strategy_index[order], np.arange(strategy_index.size)):
            raise ValueError("int_backtest__strategies.strategy_index must number the strategies 0..n-1")
        self.strategy_ids: list[str] = [strategies.column("strategy_id")[int(i)].as_py() for i in order]
        strategy_symbols = [strategies.column("symbol")[int(i)].as_py() for i in order]
        market_symbols = market.column("symbol").to_pylist()
        self.symbols: list[str] = sorted(set(market_symbols) | set(strategy_symbols))
        symbol_column = {symbol: j for j, symbol in enumerate(self.symbols)}
        ts = _micros(market, "ts")
        self.timestamps = np.unique(ts)
        shape = (self.timestamps.size, len(self.symbols))
        rows = np.searchsorted(self.timestamps, ts)
        columns = np.fromiter((symbol_column[s] for s in market_symbols), dtype=np.int64, count=len(market_symbols))

        def matrix(name: str) -> FloatArray:
            out = np.full(shape, np.nan)
            out[rows, columns] = _floats(market, name)
            return out

        initial = np.full(len(self.symbols), np.nan)
        first = np.full(len(self.symbols), np.iinfo(np.int64).max)
        np.minimum.at(first, columns, rows)
        previous = _floats(market, "previous_close")
        at_first = rows == first[columns]
        initial[columns[at_first]] = previous[at_first]
        self.market = Market(matrix("open"), matrix("close"), matrix("funding_rate"),
                             CostInputs(matrix("half_spread_bps"), matrix("volatility_bps"),
                                        matrix("mean_quote_volume"), matrix("last_quote_volume")),
                             initial)
        signal = np.zeros((self.timestamps.size, len(self.strategy_ids)), dtype=np.int8)
        if signals.num_rows:
            signal_rows = np.searchsorted(self.timestamps, _micros(signals, "ts"))
            inside = (signal_rows < self.timestamps.size)
            inside[inside] &= self.timestamps[signal_rows[inside]] == _micros(signals, "ts")[inside]
            strategy_of = signals.column("strategy_index").to_numpy(zero_copy_only=False).astype(np.int64)
            sides = signals.column("side_sign").to_numpy(zero_copy_only=False).astype(np.int8)
            signal[signal_rows[inside], strategy_of[inside]] = sides[inside]

        def ordered(name: str) -> npt.NDArray[Any]:
            return strategies.column(name).to_numpy(zero_copy_only=False)[order]

        self.book = StrategyBook(
            symbol=np.array([symbol_column[s] for s in strategy_symbols], dtype=np.int64),
            weight=ordered("weight").astype(np.float64),
            entry_lag=ordered("entry_lag_bars").astype(np.int64),
            horizon=ordered("horizon_bars").astype(np.int64),
            signal=signal,
        )


def engine_settings(config: BacktestConfig, costs: CostConfig) -> EngineSettings:
    return EngineSettings(config.execution_mode, config.capital_usd, config.risk_limits, config.kill_switches, costs)


def _parts(components: Components) -> dict[str, FloatArray]:
    return {name: getattr(components, name) for name in COMPONENTS}


def _rows(kind: str, rows: FloatArray, columns: FloatArray, parts: dict[str, FloatArray], timestamps: npt.NDArray[np.int64],
          strategy_ids: list[str | None], symbols: list[str | None], extra: dict[str, pa.Array], mode: str) -> pa.Table:
    data: dict[str, Any] = {
        "row_kind": pa.array([kind] * rows.size, pa.string()),
        "strategy_id": pa.array([strategy_ids[c] for c in columns], pa.string()),
        "symbol": pa.array([symbols[c] for c in columns], pa.string()),
        "ts": pa.array(timestamps[rows], pa.timestamp("us", tz="UTC")),
    }
    for name in COMPONENTS:
        values = parts[name][rows, columns]
        data[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
    for name in ("binding_layer", "halt_reason", "halt_value"):
        data[name] = extra.get(name, pa.nulls(rows.size, SIMULATION_SCHEMA.field(name).type))
    data["execution_mode"] = pa.array([mode] * rows.size, pa.string())
    return pa.table(data, schema=SIMULATION_SCHEMA)


def simulation_table(inputs: EngineInputs, result: BacktestResult, mode: str) -> pa.Table:
    """Long rows: 'strategy' and 'symbol' rows where a position is held or traded, 'portfolio' rows
    on every bar, 'halt' rows for every kill-switch halt (strategy_id NULL for the whole book)."""
    timestamps = inputs.timestamps
    strategy_symbol = [inputs.symbols[j] for j in inputs.book.symbol]
    tables = []
    active = (result.strategies.position != 0) | (result.strategies.traded != 0)
    rows, columns = np.nonzero(active)
    layers = result.binding_layer[rows, columns]
    tables.append(_rows("strategy", rows, columns, _parts(result.strategies), timestamps, list(inputs.strategy_ids),
                        strategy_symbol, {"binding_layer": pa.array([LAYER_NAMES[int(x)] for x in layers], pa.string())},
                        mode))
    rows, columns = np.nonzero((result.symbols.position != 0) | (result.symbols.traded != 0))
    symbol_parts = _parts(result.symbols)
    tables.append(_rows("symbol", rows, columns, symbol_parts, timestamps, [None] * len(inputs.symbols),
                        list(inputs.symbols), {}, mode))
    # The portfolio books what is known: a symbol's move across a gap is not lost but booked at its
    # next priced bar, and an unknown funding rate is left out (python_udfs.backtest_pnl.portfolio_net).
    book = {name: np.nansum(symbol_parts[name], axis=1, keepdims=True) for name in COMPONENTS[1:]}
    book["position"] = np.abs(result.symbols.position).sum(axis=1, keepdims=True)
    book["net"] = result.portfolio_net[:, None]
    all_rows = np.arange(timestamps.size)
    tables.append(_rows("portfolio", all_rows, np.zeros_like(all_rows), book, timestamps, [None], [None], {}, mode))
    if result.halts:
        tables.append(_halt_rows(inputs, result, strategy_symbol, mode))
    return pa.concat_tables(tables)


def _halt_rows(inputs: EngineInputs, result: BacktestResult, strategy_symbol: list[str], mode: str) -> pa.Table:
    halts = result.halts
    whole_book = [h.strategy == PORTFOLIO for h in halts]
    data: dict[str, Any] = {name: pa.nulls(len(halts), SIMULATION_SCHEMA.field(name).type) for name in SIMULATION_SCHEMA.names}
    data.update({
        "row_kind": pa.array(["halt"] * len(halts), pa.string()),
        "strategy_id": pa.array([None if book else inputs.strategy_ids[h.strategy] for h, book in zip(halts, whole_book)],
                                pa.string()),
        "symbol": pa.array([None if book else strategy_symbol[h.strategy] for h, book in zip(halts, whole_book)],
                           pa.string()),
        "ts": pa.array(inputs.timestamps[[h.bar for h in halts]], pa.timestamp("us", tz="UTC")),
        "halt_reason": pa.array([h.reason for h in halts], pa.string()),
        "halt_value": pa.array([h.value for h in halts], pa.float64()),
        "execution_mode": pa.array([mode] * len(halts), pa.string()),
    })
    return pa.table(data, schema=SIMULATION_SCHEMA)


def backtest_simulation(strategies: pa.Table, signals: pa.Table, market: pa.Table, config: BacktestConfig,
                        costs: CostConfig) -> pa.Table:
    """Run the engine on the warehouse's tables; an empty book or window gives an empty table."""
    if strategies.num_rows == 0 or market.num_rows == 0:
        return SIMULATION_SCHEMA.empty_table()
    inputs = EngineInputs(strategies, signals, market)
    result = run_backtest(inputs.market, inputs.book, engine_settings(config, costs))
    return simulation_table(inputs, result, config.execution_mode)
