"""The engine's target-weights path (python_udfs/backtest_engine.py run_target_weights) against the
simple loop of tests/alpha/reference_weights.py to 1e-9: random prices with gaps (some stale), funding
(some unknown), cost inputs, books that change at decision bars, in both execution modes, with every
cap layer binding, portfolio drawdown halts and stale-feed halts somewhere in the cases (asserted, so
the agreement is not vacuous). Also: a weight acts from the bar after its decision at the earliest,
and a constant book equals the event path's constant-notional strategies."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.backtest_engine import StrategyBook, run_backtest, run_target_weights
from tests.alpha.reference_weights import reference_weights
from tests.backtest.engine_cases import NO_LIMITS, NO_SWITCHES, cost_config, random_case, settings

COMPONENTS = ("position", "gross", "fees", "spread", "impact", "funding", "net")
SWITCHES = [KillSwitches(3, 1.0, 0.04, 1000.0, 5), KillSwitches(1, 1.0, 0.5, 1000.0, 5)]


def random_book(seed: int, n_bars: int, n_symbols: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets decided every `every` bars (held from the next bar), some symbols flat, gross up to ~1.6."""
    rng = np.random.default_rng(1000 + seed)
    decisions = np.arange(every - 1, n_bars, every)
    book = rng.normal(0.0, 0.35, (decisions.size, n_symbols)) * (rng.random((decisions.size, n_symbols)) < 0.8)
    latest = np.searchsorted(decisions, np.arange(n_bars), side="left") - 1    # the last decision before the bar
    targets = np.where((latest >= 0)[:, None], book[np.maximum(latest, 0)], 0.0)
    decided_at = np.where(latest >= 0, decisions[np.maximum(latest, 0)], -1).astype(np.int64)
    return targets, decided_at


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_weights_path_matches_the_reference_loop(mode: str) -> None:
    seen_halts: Counter[str] = Counter()
    seen_layers: Counter[int] = Counter()
    unknown = 0
    for switches in SWITCHES:
        for seed in range(6):
            market, _, engine = random_case(seed, mode, n_bars=240, n_symbols=4,
                                            limits=RiskLimits(1.0, 0.4, 1.0, 0.6), switches=switches)
            targets, decided_at = random_book(seed, 240, 4, every=1 + seed % 7)
            result = run_target_weights(market, targets, engine, decided_at)
            reference = reference_weights(market, targets, engine, decided_at)
            for name in COMPONENTS:
                np.testing.assert_allclose(getattr(result.symbols, name), np.asarray(getattr(reference, name)),
                                           rtol=0, atol=1e-9, err_msg=f"{name}, seed {seed}, {switches}, {mode}")
            np.testing.assert_allclose(result.portfolio_net, reference.portfolio_net, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(result.binding_layer, np.asarray(reference.binding_layer))
            assert sorted((h.strategy, h.bar, h.reason) for h in result.halts) == sorted(reference.halts)
            seen_halts.update(h.reason + (":portfolio" if h.strategy == -1 else "") for h in result.halts)
            seen_layers.update(result.binding_layer.ravel().tolist())
            unknown += int(np.isnan(result.symbols.net).sum())
    assert {"drawdown:portfolio", "data_staleness"} <= set(seen_halts), seen_halts
    assert all(seen_layers[layer] > 0 for layer in (2, 3, 4)), seen_layers
    assert unknown > 0


def test_a_weight_cannot_act_on_its_own_decision_bar() -> None:
    market, _, engine = random_case(0, "next_open", n_bars=20, n_symbols=2)
    targets = np.full((20, 2), 0.1)
    with pytest.raises(ValueError, match="next bar at the earliest"):
        run_target_weights(market, targets, engine, np.arange(20))
    with pytest.raises(ValueError, match="finite"):
        run_target_weights(market, np.where(np.eye(20, 2) > 0, np.nan, targets), engine)


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_a_constant_book_is_the_event_paths_constant_notional_strategies(mode: str) -> None:
    """One long strategy per symbol held over the whole window (a signal at bar 0, entry lag 1) and the
    book of the same weights from bar 1 on give the same PnL, costs and funding."""
    market, _, _ = random_case(3, mode, n_bars=120, n_symbols=3)
    engine = settings(mode, NO_LIMITS, NO_SWITCHES, cost_config())
    weights = np.array([0.2, 0.1, 0.3])
    signal = np.zeros((120, 3), dtype=np.int8)
    signal[0] = 1
    events = run_backtest(market, StrategyBook(np.arange(3), weights, np.ones(3, dtype=np.int64),
                                               np.full(3, 10_000, dtype=np.int64), signal), engine)
    targets = np.vstack([np.zeros((1, 3)), np.tile(weights, (119, 1))])
    book = run_target_weights(market, targets, engine)
    for name in COMPONENTS:
        np.testing.assert_allclose(getattr(book.symbols, name), getattr(events.symbols, name), rtol=0, atol=1e-12,
                                   err_msg=name)
