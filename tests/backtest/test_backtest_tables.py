"""The glue between the warehouse and the engine: long tables become matrices with missing rows as
gaps (never zeros), signals land on their bars, and trades are cut from position runs with the
closing bar's costs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from python_udfs.backtest_summary import trades_of
from python_udfs.backtest_tables import EngineInputs

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def bars(symbol: str, indices: list[int], price: float) -> list[dict]:
    return [{"symbol": symbol, "ts": T0 + timedelta(minutes=5 * i), "open": price + i, "close": price + i + 0.5,
             "previous_close": price + i - 0.5, "funding_rate": 0.0, "half_spread_bps": 1.0, "volatility_bps": 10.0,
             "mean_quote_volume": 1e6, "last_quote_volume": 1e5} for i in indices]


def test_market_rows_become_matrices_with_missing_rows_as_gaps() -> None:
    market = pa.Table.from_pylist(bars("BTCUSDT", [0, 1, 2, 3], 100.0) + bars("ETHUSDT", [1, 3], 10.0))
    strategies = pa.Table.from_pylist([
        {"strategy_id": "b", "strategy_index": 1, "symbol": "ETHUSDT", "weight": 0.2, "entry_lag_bars": 1, "horizon_bars": 2},
        {"strategy_id": "a", "strategy_index": 0, "symbol": "BTCUSDT", "weight": 0.1, "entry_lag_bars": 2, "horizon_bars": 5},
    ])
    signals = pa.Table.from_pylist([{"strategy_index": 1, "ts": T0 + timedelta(minutes=5), "side_sign": -1}],
                                   schema=pa.schema([("strategy_index", pa.int32()), ("ts", pa.timestamp("us", tz="UTC")),
                                                     ("side_sign", pa.int8())]))
    inputs = EngineInputs(strategies, signals, market)
    assert inputs.symbols == ["BTCUSDT", "ETHUSDT"] and inputs.strategy_ids == ["a", "b"]
    eth = inputs.market.close[:, 1]
    assert np.isnan(eth[0]) and np.isnan(eth[2]) and eth[1] == 11.5 and eth[3] == 13.5
    assert inputs.market.initial_close.tolist() == [99.5, 10.5]
    assert inputs.book.signal[:, 1].tolist() == [0, -1, 0, 0] and not inputs.book.signal[:, 0].any()
    assert inputs.book.symbol.tolist() == [0, 1] and inputs.book.entry_lag.tolist() == [2, 1]


def test_trades_are_runs_of_one_side_closed_by_the_next_flat_bar() -> None:
    position = np.array([0, 0.1, 0.1, 0, 0, -0.1, -0.1, 0.2, 0.2])
    net = np.array([0, -0.001, 0.002, -0.0005, 9, 0.001, 0.001, -0.001, 0.004])
    trades = trades_of(position, net)
    # long bars 1-2 closed at bar 3; short bars 5-6 flipped at bar 7 (the flip bar belongs to the next
    # trade); long bars 7-8 still open at the end
    assert trades.holding_bars.tolist() == [2, 2, 2]
    np.testing.assert_allclose(trades.net_return, [0.0005, 0.002, 0.003])
    assert trades_of(np.zeros(4), np.zeros(4)).net_return.size == 0


def test_unknown_bars_inside_a_trade_count_as_not_booked() -> None:
    trades = trades_of(np.array([0.1, 0.1, 0.1, 0.0]), np.array([0.001, np.nan, 0.002, -0.0001]))
    assert trades.net_return.tolist() == pytest.approx([0.0029])
