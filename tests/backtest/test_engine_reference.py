"""The vectorised engine agrees with the deliberately simple loop of tests/backtest/reference_engine.py
to 1e-9 on random prices, gaps, funding, cost inputs and signals, in both execution modes, with every
cap layer binding and every kill switch firing somewhere in the cases (asserted, so the agreement is
not vacuous)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.backtest_engine import BacktestResult, StrategyBook, run_backtest
from python_udfs.backtest_pnl import EngineSettings, Market
from tests.backtest.engine_cases import random_case
from tests.backtest.reference_engine import as_array, reference_backtest

SWITCH_VARIANTS = [
    KillSwitches(3, 0.2, 0.15, 3.0, 5),       # slippage halts dominate
    KillSwitches(3, 0.05, 0.04, 50.0, 5),     # strategy and portfolio drawdowns
    KillSwitches(1, 0.02, 0.5, 1000.0, 3),    # every gap is stale; tight strategy drawdown
]
COMPONENTS = ("position", "gross", "fees", "spread", "impact", "funding", "net")


def assert_matches_reference(market: Market, book: StrategyBook, settings: EngineSettings, label: str) -> BacktestResult:
    """Run the engine and the reference loop on one case; every output must agree."""
    result = run_backtest(market, book, settings)
    reference = reference_backtest(market, book, settings)
    for name in COMPONENTS:
        np.testing.assert_allclose(getattr(result.strategies, name), as_array(getattr(reference, name)),
                                   rtol=0, atol=1e-9, err_msg=f"{name}, {label}")
    np.testing.assert_allclose(result.symbols.net, as_array(reference.symbol_net), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(result.binding_layer, np.asarray(reference.binding_layer))
    assert sorted((h.strategy, h.bar, h.reason) for h in result.halts) == sorted(reference.halts)
    return result


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_engine_matches_the_reference_loop(mode: str) -> None:
    seen_halts: Counter[str] = Counter()
    seen_layers: Counter[int] = Counter()
    unknown_cells = 0
    for switches in SWITCH_VARIANTS:
        for seed in range(8):
            result = assert_matches_reference(*random_case(seed, mode, switches=switches), f"seed {seed}, {switches}")
            seen_halts.update(h.reason + (":portfolio" if h.strategy == -1 else "") for h in result.halts)
            seen_layers.update(result.binding_layer.ravel().tolist())
            unknown_cells += int(np.isnan(result.strategies.net).sum())
    assert {"drawdown", "drawdown:portfolio", "slippage_ratio", "data_staleness"} <= set(seen_halts), seen_halts
    assert all(seen_layers[layer] > 0 for layer in (1, 2, 3, 4)), seen_layers
    assert unknown_cells > 0


@pytest.mark.parametrize("mode", ["next_open", "close"])
@pytest.mark.parametrize("chunk", [1, 37, 64])
def test_engine_in_small_blocks_and_chunks_matches_the_reference_loop(mode: str, chunk: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The running scans work in blocks of bars and the sweep in chunks, each carrying its state
    (positions held, a cut being caught up, drawdown scans, the last legs of the slippage window)
    across the boundary; blocks of 37 bars and chunks of 1, 37 and 64 bars (not divisors of the 300
    bars) give the same results as the reference, halts included."""
    import python_udfs.backtest_engine as engine
    import python_udfs.backtest_pnl as pnl
    import python_udfs.kill_switches as switches

    monkeypatch.setattr(pnl, "BLOCK_BARS", 37)
    monkeypatch.setattr(switches, "BLOCK_BARS", 37)
    monkeypatch.setattr(engine, "CHUNK_BARS", chunk)
    cut_short = halts = 0
    for variant in SWITCH_VARIANTS:
        for seed in range(4):
            result = assert_matches_reference(*random_case(seed, mode, switches=variant),
                                              f"blocks of 37, chunks of {chunk}, seed {seed}")
            cut_short += result.chunks - -(-300 // chunk)  # chunks a halt ended early
            halts += sum(h.reason != "data_staleness" for h in result.halts)
    assert halts > 20, halts
    # a chunk of one bar is never cut short: its halts act from the next chunk on
    assert cut_short > 10 if chunk > 1 else cut_short == 0, cut_short


@pytest.mark.parametrize("chunk", [2048, 50])
def test_halts_under_caps_that_couple_the_strategies_match_the_reference_loop(chunk: int,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Tight symbol, gross and new-exposure caps tie every strategy's position to the others', so a
    halt moves the PnL of strategies that are not halted, and a breach found before a halt may move
    or vanish once it is applied. The engine applies the earliest breach of a chunk and starts the
    next chunk after it (chunks of 2048 bars, or of 50, where cuts being caught up, scans and
    slippage windows cross chunk boundaries); the halts and every component must be the
    reference's."""
    import python_udfs.backtest_engine as engine

    monkeypatch.setattr(engine, "CHUNK_BARS", chunk)
    coupled = RiskLimits(0.25, 0.12, 0.3, 0.08)
    halts_seen = 0
    layers: Counter[int] = Counter()
    for switches in (KillSwitches(3, 0.08, 0.5, 2.0, 4), KillSwitches(3, 0.04, 0.06, 1000.0, 5)):
        for seed in range(12):
            result = assert_matches_reference(
                *random_case(100 + seed, "next_open", n_bars=400, n_strategies=12, limits=coupled, switches=switches),
                f"coupled caps, seed {100 + seed}, {switches}")
            layers.update(result.binding_layer.ravel().tolist())
            halts_seen += sum(h.reason != "data_staleness" for h in result.halts)
    assert all(layers[layer] > 0 for layer in (2, 3, 4)), layers
    assert halts_seen >= 100, halts_seen
