"""Market and strategy builders shared by the engine tests."""

from __future__ import annotations

import numpy as np

from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.backtest_engine import StrategyBook
from python_udfs.backtest_pnl import EngineSettings, Market
from python_udfs.cost_model import CostConfig
from python_udfs.execution_costs import CostInputs

NO_LIMITS = RiskLimits(10.0, 10.0, 10.0, 10.0)
NO_SWITCHES = KillSwitches(100_000, 1.0, 1.0, 1000.0, 100_000)


def cost_config(**overrides: float) -> CostConfig:
    values = dict(execution_mode="taker", taker_fee_bps=5.0, maker_fee_bps=2.0, spread_floor_bps=0.5,
                  impact_coefficient_bps=10.0, order_notional_usd=10_000.0, include_funding=True,
                  volatility_coefficient=0.1, participation_coefficient_bps=50.0)
    values.update(overrides)
    return CostConfig(**values)


FREE = cost_config(taker_fee_bps=0.0, spread_floor_bps=0.0, impact_coefficient_bps=0.0,
                   volatility_coefficient=0.0, participation_coefficient_bps=0.0)


def settings(mode: str = "next_open", limits: RiskLimits = NO_LIMITS, switches: KillSwitches = NO_SWITCHES,
             costs: CostConfig = FREE, capital: float = 1e6) -> EngineSettings:
    return EngineSettings(mode, capital, limits, switches, costs)


def flat_market(n_bars: int, n_symbols: int = 1, price: float = 100.0, half_spread_bps: float = 0.0) -> Market:
    shape = (n_bars, n_symbols)
    return Market(np.full(shape, price), np.full(shape, price), np.zeros(shape),
                  CostInputs(np.full(shape, half_spread_bps), np.zeros(shape), np.full(shape, 1e9), np.full(shape, 1e9)),
                  np.full(n_symbols, price))


def book(signal: np.ndarray, symbol: list[int], weight: list[float], lag: list[int], horizon: list[int]) -> StrategyBook:
    return StrategyBook(np.asarray(symbol, dtype=np.int64), np.asarray(weight, dtype=np.float64),
                        np.asarray(lag, dtype=np.int64), np.asarray(horizon, dtype=np.int64),
                        np.asarray(signal, dtype=np.int8))


def random_case(seed: int, mode: str, n_bars: int = 300, n_symbols: int = 3, n_strategies: int = 8,
                limits: RiskLimits = RiskLimits(0.3, 0.4, 0.8, 0.3),
                switches: KillSwitches = KillSwitches(3, 0.2, 0.15, 3.0, 5),
                costs: CostConfig | None = None) -> tuple[Market, StrategyBook, EngineSettings]:
    """Random walks with gaps of 1-5 bars, funding settlements (some unknown), random cost inputs
    and sparse long/short signals: every rule of the engine gets exercised."""
    rng = np.random.default_rng(seed)
    shape = (n_bars, n_symbols)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, shape), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.002, shape))
    for column in range(n_symbols):
        for _ in range(3):
            start, length = rng.integers(0, n_bars - 5), rng.integers(1, 6)
            close[start:start + length, column] = np.nan
            open_[start:start + length, column] = np.nan
    funding = np.where(rng.random(shape) < 0.05, rng.normal(0, 1e-3, shape), 0.0)
    funding[rng.random(shape) < 0.01] = np.nan
    inputs = CostInputs(rng.uniform(0.5, 3, shape), rng.uniform(5, 50, shape), rng.uniform(1e5, 1e7, shape),
                        rng.uniform(1e4, 1e7, shape))
    inputs.half_spread_bps[rng.random(shape) < 0.01] = np.nan     # cost inputs unknown at some bars
    inputs.mean_quote_volume[rng.random(shape) < 0.01] = np.nan
    market = Market(open_, close, funding, inputs, np.nan_to_num(close[0], nan=100.0) * 0.999)
    signal = np.where(rng.random((n_bars, n_strategies)) < 0.03, rng.choice([-1, 1], (n_bars, n_strategies)), 0)
    strategies = StrategyBook(rng.integers(0, n_symbols, n_strategies), rng.uniform(0.05, 0.4, n_strategies),
                              rng.integers(1, 3, n_strategies), rng.integers(1, 20, n_strategies),
                              signal.astype(np.int8))
    return market, strategies, EngineSettings(mode, 1e6, limits, switches, costs or cost_config())
