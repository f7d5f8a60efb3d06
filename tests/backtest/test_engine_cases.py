"""Hand-computed cases of the backtest engine: funding through two settlements, a drawdown halt, each
of the four cap layers binding, gaps and a stale feed, costs per leg, and no lookahead (a signal never
earns its own bar, and truncating the future changes nothing before the cut)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from python_udfs.backtest_config import RiskLimits
from python_udfs.backtest_engine import run_backtest
from python_udfs.execution_costs import CostInputs
from tests.backtest.engine_cases import NO_LIMITS, NO_SWITCHES, book, cost_config, flat_market, random_case, settings


def one_signal(n_bars: int, bar: int, side: int = 1, n_strategies: int = 1) -> np.ndarray:
    signal = np.zeros((n_bars, n_strategies), dtype=np.int8)
    signal[bar, :] = side
    return signal


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_a_long_pays_each_funding_settlement_in_its_holding_window_once(mode: str) -> None:
    # Signal at bar 2, lag 1, horizon 10: held over bars 3..12. Settlements at the close of bar 2
    # (before entry), bar 5 (an 8-hour settlement), bar 9 (a 4-hour one, so the next comes sooner)
    # and bar 13 (after the exit): only bars 5 and 9 are paid, by the weight held over them.
    market = flat_market(20)
    market.funding_rate[[2, 5, 9, 13], 0] = [7e-4, 1e-4, 2e-4, 5e-4]
    strategies = book(np.hstack([one_signal(20, 2, 1), one_signal(20, 2, -1)]), [0, 0], [0.1, 0.1], [1, 1], [10, 10])
    result = run_backtest(market, strategies, settings(mode))
    held = np.flatnonzero(result.strategies.position[:, 0])
    assert held.tolist() == list(range(3, 13))
    funding = result.strategies.funding
    assert funding[:, 0].sum() == pytest.approx(-0.1 * (1e-4 + 2e-4), abs=1e-15)   # the long pays
    assert funding[:, 1].sum() == pytest.approx(+0.1 * (1e-4 + 2e-4), abs=1e-15)   # the short receives
    assert np.flatnonzero(funding[:, 0]).tolist() == [5, 9]
    # netted on the symbol the two cancel: no position, no funding, no trade
    assert not result.symbols.position.any() and not result.symbols.funding.any()


def test_unknown_funding_while_holding_is_unknown_not_zero() -> None:
    market = flat_market(20)
    market.funding_rate[6, 0] = np.nan
    market.funding_rate[15, 0] = np.nan   # flat then: nothing owed, nothing unknown
    result = run_backtest(market, book(one_signal(20, 2), [0], [0.1], [1], [10]), settings())
    assert np.isnan(result.strategies.funding[6, 0]) and np.isnan(result.strategies.net[6, 0])
    assert result.strategies.funding[15, 0] == 0.0


def test_a_drawdown_halts_the_strategy_from_the_next_bar() -> None:
    # Price 100 through bar 5, then -2% a bar. Long 0.5 from bar 1 (signal bar 0, horizon 50).
    # Constant notional: each falling bar loses 0.5 * 0.02 = 0.01 of capital. Equity 0.5 + PnL;
    # drawdown at bar k = 0.01 (k - 5) / 0.5 reaches the 0.099 limit at bar 10 (0.10; bar 9: 0.08).
    price = np.where(np.arange(40) <= 5, 100.0, 100.0 * 0.98 ** (np.arange(40) - 5))
    market = flat_market(40)
    market.open[:, 0] = price
    market.close[:, 0] = price
    switches = dataclasses.replace(NO_SWITCHES, strategy_max_drawdown=0.099)
    result = run_backtest(market, book(one_signal(40, 0), [0], [0.5], [1], [50]), settings(switches=switches))
    assert [(h.strategy, h.bar, h.reason) for h in result.halts] == [(0, 10, "drawdown")]
    assert result.halts[0].value == pytest.approx(0.10)
    assert np.flatnonzero(result.strategies.position[:, 0]).tolist() == list(range(1, 11))
    # exit at the open of bar 11: the fall from close 10 to open 11 is the last loss
    assert result.strategies.net[:, 0].sum() == pytest.approx(-0.06)


def test_a_portfolio_drawdown_stops_every_strategy() -> None:
    price = np.where(np.arange(30) <= 3, 100.0, 100.0 * 0.99 ** (np.arange(30) - 3))
    market = flat_market(30, n_symbols=2)
    market.open[:] = price[:, None]
    market.close[:] = price[:, None]
    switches = dataclasses.replace(NO_SWITCHES, portfolio_max_drawdown=0.0299)
    # two longs of 0.5 lose 0.01 of capital a bar from bar 4: drawdown 0.03 at bar 6
    result = run_backtest(market, book(one_signal(30, 0, 1, 2), [0, 1], [0.5, 0.5], [1, 1], [50, 50]),
                          settings(switches=switches))
    assert [(h.strategy, h.bar, h.reason) for h in result.halts] == [(-1, 6, "drawdown")]
    assert not result.strategies.position[7:].any()


def layer_case(limits: RiskLimits, symbols: list[int], weights: list[float], sides: list[int]) -> tuple:
    n_bars = 10
    signal = np.zeros((n_bars, len(symbols)), dtype=np.int8)
    signal[1, :] = sides
    market = flat_market(n_bars, n_symbols=max(symbols) + 1)
    result = run_backtest(market, book(signal, symbols, weights, [1] * len(symbols), [5] * len(symbols)),
                          settings(limits=limits))
    return result.strategies.position, result.binding_layer


def test_strategy_cap() -> None:
    position, layer = layer_case(dataclasses.replace(NO_LIMITS, strategy_max_weight=0.2), [0], [0.5], [1])
    assert position[2:7, 0].tolist() == [0.2] * 5 and layer[2:7, 0].tolist() == [1] * 5


def test_symbol_cap_scales_the_strategies_of_the_symbol_on_their_net() -> None:
    position, layer = layer_case(dataclasses.replace(NO_LIMITS, symbol_max_net_weight=0.4), [0, 0, 1], [0.3, 0.3, 0.3],
                                 [1, 1, 1])
    np.testing.assert_allclose(position[2], [0.2, 0.2, 0.3])
    assert layer[2].tolist() == [2, 2, 0]
    # a long and a short of the same symbol net to zero: nothing to cap
    position, layer = layer_case(dataclasses.replace(NO_LIMITS, symbol_max_net_weight=0.4), [0, 0], [0.3, 0.3], [1, -1])
    np.testing.assert_allclose(position[2], [0.3, -0.3])
    assert not layer.any()


def test_portfolio_cap_on_the_gross_of_symbol_nets() -> None:
    position, layer = layer_case(dataclasses.replace(NO_LIMITS, portfolio_max_gross_weight=0.4), [0, 1], [0.3, 0.3],
                                 [1, -1])
    np.testing.assert_allclose(position[2], [0.2, -0.2])
    assert layer[2].tolist() == [3, 3]


def test_new_exposure_cap_spreads_entries_over_bars() -> None:
    # two entries of 0.3 at bar 2 against a cap of 0.4 new exposure per bar: 0.2 each (scale 2/3),
    # then the remaining 0.1 each fits at bar 3
    position, layer = layer_case(dataclasses.replace(NO_LIMITS, max_new_exposure_per_bar=0.4), [0, 1], [0.3, 0.3],
                                 [1, 1])
    np.testing.assert_allclose(position[2], [0.2, 0.2])
    np.testing.assert_allclose(position[3], [0.3, 0.3])
    assert layer[2].tolist() == [4, 4] and layer[3].tolist() == [0, 0]


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_a_short_gap_defers_the_move_and_a_stale_gap_closes_the_trade(mode: str) -> None:
    price = 100.0 + np.arange(40, dtype=float)
    market = flat_market(40)
    market.open[:, 0] = price
    market.close[:, 0] = price + 0.5
    market.open[10:12, 0] = market.close[10:12, 0] = np.nan        # 2 bars: not stale (max 3)
    market.open[20:24, 0] = market.close[20:24, 0] = np.nan        # 4 bars: stale
    switches = dataclasses.replace(NO_SWITCHES, max_stale_bars=3)
    result = run_backtest(market, book(one_signal(40, 5), [0], [0.1], [1], [30]), settings(mode, switches=switches))
    gross = result.strategies.gross[:, 0]
    assert np.isnan(gross[10:12]).all()
    # the move from close 9 (109.5) to bar 12 is booked at bar 12
    first_after = gross[12]
    expected = 0.1 * ((112 / 109.5 - 1) + (112.5 / 112 - 1)) if mode == "next_open" else 0.1 * (112.5 / 109.5 - 1)
    assert first_after == pytest.approx(expected)
    resume = 24 if mode == "next_open" else 25
    assert [(h.bar, h.reason, h.value) for h in result.halts] == [(resume, "data_staleness", 4.0)]
    assert result.strategies.position[resume:, 0].tolist() == [0.0] * (40 - resume)


def test_costs_per_leg_follow_the_dynamic_model() -> None:
    costs = cost_config(taker_fee_bps=5.0, impact_coefficient_bps=10.0, volatility_coefficient=0.1,
                        participation_coefficient_bps=50.0)
    market = flat_market(12)
    market = dataclasses.replace(market, costs=CostInputs(np.full((12, 1), 2.0), np.full((12, 1), 30.0),
                                                          np.full((12, 1), 4e6), np.full((12, 1), 2e6)))
    result = run_backtest(market, book(one_signal(12, 1), [0], [0.1], [1], [5]), settings(costs=costs, capital=1e6))
    # entry at bar 2 and exit at bar 7, each 0.1 of 1M = 100k notional:
    # fee 5 bps; half spread 2 bps; impact 0.1 * 30 + 10 * sqrt(1e5 / 4e6) + 50 * 1e5 / 2e6 = 3 + 1.5811 + 2.5 bps
    impact_bps = 3.0 + 10.0 * np.sqrt(1e5 / 4e6) + 2.5
    for bar in (2, 7):
        assert result.strategies.fees[bar, 0] == pytest.approx(0.1 * 5e-4)
        assert result.strategies.spread[bar, 0] == pytest.approx(0.1 * 2e-4)
        assert result.strategies.impact[bar, 0] == pytest.approx(0.1 * impact_bps * 1e-4)
        # expected by discovery: half spread + 10 * sqrt(10k / 4e6)
        assert result.strategies.expected_slippage[bar, 0] == pytest.approx(0.1 * (2.0 + 10 * np.sqrt(1e4 / 4e6)) * 1e-4)
    assert np.flatnonzero(result.strategies.fees[:, 0]).tolist() == [2, 7]


def test_a_signal_never_earns_its_own_bar_in_next_open_mode() -> None:
    market = flat_market(10)
    market.close[3, 0] = 200.0   # a huge move inside the signal bar
    result = run_backtest(market, book(one_signal(10, 3), [0], [0.5], [1], [3]), settings("next_open"))
    assert result.strategies.position[3, 0] == 0.0 and result.strategies.gross[3, 0] == 0.0
    assert np.flatnonzero(result.strategies.position[:, 0]).tolist() == [4, 5, 6]


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_truncating_the_future_changes_nothing_before_the_cut(mode: str) -> None:
    market, strategies, config = random_case(3, mode, n_bars=400)
    full = run_backtest(market, strategies, config)
    cut = 250
    short_market = dataclasses.replace(
        market, open=market.open[:cut], close=market.close[:cut], funding_rate=market.funding_rate[:cut],
        costs=CostInputs(*(getattr(market.costs, name)[:cut] for name in CostInputs.__dataclass_fields__)))
    short = run_backtest(short_market, dataclasses.replace(strategies, signal=strategies.signal[:cut]), config)
    for name in ("position", "gross", "fees", "spread", "impact", "funding", "net"):
        np.testing.assert_array_equal(getattr(short.strategies, name), getattr(full.strategies, name)[:cut])
    before_cut = [h for h in full.halts if h.bar < cut]
    assert [(h.strategy, h.bar, h.reason) for h in before_cut] == [(h.strategy, h.bar, h.reason) for h in short.halts]
    # the measured values are running sums over a different number of legs: equal up to rounding
    np.testing.assert_allclose([h.value for h in before_cut], [h.value for h in short.halts], rtol=1e-12)


def test_bad_books_are_refused_with_the_reason() -> None:
    market = flat_market(5)
    with pytest.raises(ValueError, match="entry_lag must be at least 1"):
        run_backtest(market, book(one_signal(5, 1), [0], [0.1], [0], [3]), settings())
    with pytest.raises(ValueError, match="signal matrix"):
        run_backtest(market, book(one_signal(4, 1), [0], [0.1], [1], [3]), settings())
