"""The engine's fast paths give the results of the straightforward ones: the sweep in chunks makes
the path of one chunk, the drawdown scan's bound never hides a breach, the symbols' positions are
their strategies' sums, and the sparse gap rules (stale resumes, marks, frozen cells), the
run-length targets and the caps' skip hints equal their dense versions."""

from __future__ import annotations

import numpy as np
import pytest

import python_udfs.backtest_engine as engine
import python_udfs.backtest_pnl as pnl
import python_udfs.kill_switches as switches
from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.backtest_engine import BacktestResult, run_backtest
from python_udfs.risk_allocator import cap_targets, weight_changes
from tests.backtest.engine_cases import random_case

PARTS = ("position", "gross", "net", "funding", "traded", "fees", "spread", "impact", "expected_slippage")
HALTING = [KillSwitches(3, 0.05, 0.04, 50.0, 5), KillSwitches(1, 0.02, 0.5, 1.2, 3), KillSwitches(3, 0.2, 0.15, 3.0, 5)]
LIMITS = [RiskLimits(0.3, 0.4, 0.8, 0.3), RiskLimits(0.3, 0.2, 0.3, 0.05), RiskLimits(10.0, 10.0, 10.0, 10.0)]
def assert_same_path(a: BacktestResult, b: BacktestResult, label: str) -> None:
    """The same halts, binding layers, positions and legs, and PnL equal to rounding: a chunk
    boundary only moves where the drawdown scans' running sums restart (the halt values too)."""
    assert [(h.strategy, h.bar, h.reason) for h in a.halts] == [(h.strategy, h.bar, h.reason) for h in b.halts], label
    np.testing.assert_allclose([h.value for h in a.halts], [h.value for h in b.halts], rtol=1e-12, err_msg=label)
    assert np.array_equal(a.binding_layer, b.binding_layer), label
    for rows in ("strategies", "symbols"):
        x, y = getattr(a, rows), getattr(b, rows)
        assert np.array_equal(x.position, y.position), f"{rows}.position, {label}"
        assert np.array_equal(x.leg_bar, y.leg_bar) and np.array_equal(x.leg_column, y.leg_column), label
        for name in PARTS[1:]:
            np.testing.assert_allclose(getattr(x, name), getattr(y, name), rtol=0, atol=1e-15,
                                       err_msg=f"{rows}.{name}, {label}")


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_the_sweep_in_chunks_makes_the_path_of_one_chunk(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 1, 17 and 64 bars (each made from the state the chunks before left: positions, a
    new-exposure cut being caught up, frozen cells, drawdown scans, the slippage windows' last legs)
    make the path that one chunk of all 300 bars makes, halts included."""
    cut_short = 0
    for seed in range(4):
        for kill in HALTING:
            for limits in LIMITS:
                case = random_case(seed, mode, limits=limits, switches=kill)
                monkeypatch.setattr(engine, "CHUNK_BARS", 10_000)
                whole = run_backtest(*case)
                for chunk in (1, 17, 64):
                    monkeypatch.setattr(engine, "CHUNK_BARS", chunk)
                    parts = run_backtest(*case)
                    assert_same_path(whole, parts, f"chunks of {chunk}, seed {seed}, {kill}, {limits}")
                    cut_short += parts.chunks > -(-300 // chunk)  # a halt ended a chunk early
    assert cut_short > 10, cut_short


def reference_drawdown_breach(net: np.ndarray, base: np.ndarray, limit: float, block: int) -> switches.Breach:
    """Every cell, block by block: the running sum, equity, running peak and drawdown."""
    n_bars, n_columns = net.shape
    out_bar = np.full(n_columns, switches.NO_BREACH, dtype=np.int64)
    out_value = np.full(n_columns, np.nan)
    carried, peak, open_ = np.zeros(n_columns), base.astype(np.float64).copy(), np.ones(n_columns, dtype=bool)
    for start in range(0, n_bars, block):
        running = np.cumsum(np.nan_to_num(net[start:start + block], nan=0.0), axis=0)
        running += carried
        carried = running[-1].copy()
        equity = running + base
        block_peak = np.maximum(np.maximum.accumulate(equity, axis=0), peak)
        peak = block_peak[-1].copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = np.where(block_peak > 0, (block_peak - equity) / block_peak, np.inf)
        breached = (drawdown >= limit) & open_
        hit = breached.any(axis=0)
        first = breached.argmax(axis=0)
        columns = np.flatnonzero(hit)
        out_bar[columns] = start + first[columns]
        out_value[columns] = drawdown[first[columns], columns]
        open_[columns] = False
    return switches.Breach(out_bar, out_value)


@pytest.mark.parametrize("block", [37, 64, 1000])
def test_the_drawdown_scans_bound_never_hides_a_breach(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random walks with NaN cells, some right at the limit (a breach by a hair), some with a huge
    or infinite bar: the scan finds the same first breach bar and value as every cell checked."""
    monkeypatch.setattr(switches, "BLOCK_BARS", block)
    rng = np.random.default_rng(block)
    breaches = 0
    for trial in range(12):
        n_bars, n_columns = int(rng.integers(1, 3000)), int(rng.integers(1, 12))
        base = rng.uniform(0.01, 0.2, n_columns)
        net = rng.normal(0, 1e-3, (n_bars, n_columns)) * base * rng.uniform(0.5, 8.0, n_columns)
        net[rng.random(net.shape) < 0.02] = np.nan
        if trial % 4 == 3:
            net[rng.integers(0, n_bars), 0] = np.inf if trial % 8 == 3 else -1e300
        for limit in (0.0, 0.02, 0.2, 0.5, 2.0):
            expected = reference_drawdown_breach(net, base, limit, block)
            found = switches.first_drawdown_breach(net, base, limit)
            assert np.array_equal(found.bar, expected.bar), (trial, limit)
            assert np.array_equal(found.value, expected.value, equal_nan=True), (trial, limit)
            breaches += int((expected.bar >= 0).sum())
        # a limit exactly at a reached drawdown: the breach is at that bar, by the same arithmetic
        reached = reference_drawdown_breach(net, base, 0.05, block)
        for column in np.flatnonzero(reached.bar >= 0):
            exact = reference_drawdown_breach(net[:, [column]], base[[column]], float(reached.value[column]), block)
            found = switches.first_drawdown_breach(net[:, [column]], base[[column]], float(reached.value[column]))
            assert found.bar.tolist() == exact.bar.tolist() and found.value.tolist() == exact.value.tolist()
    assert breaches > 20


def test_symbol_positions_are_their_strategies_sums_in_column_order() -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        n_bars, n_strategies, n_symbols = int(rng.integers(1, 400)), int(rng.integers(1, 30)), int(rng.integers(1, 6))
        symbol = rng.integers(0, n_symbols, n_strategies)
        steps = np.where(rng.random((n_bars, n_strategies)) < 0.05, rng.normal(0, 0.1, (n_bars, n_strategies)), np.nan)
        steps[0] = np.where(rng.random(n_strategies) < 0.5, 0.0, steps[0])
        weights = np.nan_to_num(_forward_filled(steps))
        position, moved = engine.symbol_positions(weights, weight_changes(weights), symbol,
                                                  engine.symbol_members(symbol, n_symbols))
        expected = np.zeros((n_bars, n_symbols))
        for strategy in range(n_strategies):
            expected[:, symbol[strategy]] = expected[:, symbol[strategy]] + weights[:, strategy]
        assert np.array_equal(position, expected)
        assert all(np.array_equal(a, b) for a, b in zip(moved, weight_changes(expected)))


def _forward_filled(steps: np.ndarray) -> np.ndarray:
    index = np.where(np.isnan(steps), -1, np.arange(steps.shape[0])[:, None])
    last = np.maximum.accumulate(index, axis=0)
    return np.where(last >= 0, np.take_along_axis(steps, np.maximum(last, 0), axis=0), 0.0)


def dense_stale_resumes(valid: np.ndarray, mode: str, max_stale_bars: int) -> np.ndarray:
    n_bars = valid.shape[0]
    last_valid = switches.last_true_index(valid)
    before = np.vstack([np.full((1, valid.shape[1]), -1), last_valid[:-1]])
    gap = np.where(valid, np.arange(n_bars)[:, None] - before - 1, 0)
    ends = valid & (gap >= max_stale_bars)
    if mode == "close":
        ends = np.vstack([np.zeros((1, valid.shape[1]), dtype=bool), ends[:-1]])
        gap = np.vstack([np.zeros((1, valid.shape[1]), dtype=np.int64), gap[:-1]])
    return np.where(ends, gap, 0)


def test_sparse_gap_rules_equal_their_dense_versions() -> None:
    """Stale resumes, the last known close and the frozen weights, from the runs of gap bars."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        n_bars, n_symbols = int(rng.integers(1, 200)), int(rng.integers(1, 5))
        valid = rng.random((n_bars, n_symbols)) > rng.choice([0.02, 0.3, 0.9])
        for mode in ("next_open", "close"):
            for max_stale in (1, 2, 4):
                assert np.array_equal(switches.stale_resumes(valid, mode, max_stale).gap_bars,
                                      dense_stale_resumes(valid, mode, max_stale))
        close = np.where(valid, rng.uniform(50, 150, valid.shape), np.nan)
        initial = np.where(rng.random(n_symbols) < 0.3, np.nan, 100.0)
        market = pnl.Market(close, close, np.zeros(valid.shape), None, initial)  # type: ignore[arg-type]
        last = switches.last_true_index(valid)
        through = np.where(last >= 0, np.take_along_axis(close, np.maximum(last, 0), axis=0), initial[None, :])
        assert np.array_equal(pnl._marks(market), np.vstack([initial[None, :], through[:-1]]), equal_nan=True)
        symbol_of = rng.integers(0, n_symbols, 7)
        weights = rng.normal(size=(n_bars, 7))
        tradable = valid[:, symbol_of]
        held = np.take_along_axis(weights, np.maximum(switches.last_true_index(tradable), 0), axis=0)
        expected = np.where(switches.last_true_index(tradable) >= 0, held, 0.0)
        assert np.array_equal(engine._freeze(weights, engine.frozen_cells(valid, symbol_of)), expected)


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_run_length_targets_and_cap_hints_equal_the_dense_scans(mode: str) -> None:
    for seed in range(6):
        for limits in LIMITS + [RiskLimits(0.1, 0.15, 0.2, 1.0)]:
            market, book, settings = random_case(seed, mode, limits=limits)
            n_bars, n_symbols = market.close.shape
            trades = engine.signal_trades(book, [np.zeros(0, dtype=np.int64)] * n_symbols)
            halted = np.where(np.arange(book.symbol.size) % 3 == 0, 150, engine.NEVER)
            sides = engine._raw_sides(trades, book.symbol.size, n_bars, halted)
            marks = np.zeros((n_bars + 1, book.symbol.size), dtype=np.int64)
            end = np.minimum(np.minimum(trades.end, halted[trades.column]), n_bars - 1)
            keep = trades.start <= end
            np.add.at(marks, (trades.start[keep], trades.column[keep]), trades.side[keep])
            np.add.at(marks, (end[keep] + 1, trades.column[keep]), -trades.side[keep])
            assert np.array_equal(sides, np.cumsum(marks[:n_bars], axis=0))
            targets = sides * book.weight[None, :]
            plain = cap_targets(targets, book.symbol, n_symbols, limits)
            nominal, runs = engine._holding(trades, book, n_bars, halted)
            hinted = cap_targets(targets.copy(), book.symbol, n_symbols, limits, in_place=True, nominal=nominal,
                                 runs=runs)
            for a, b in zip(plain, hinted):
                assert np.array_equal(a, b)


def test_weight_changes_are_every_cell_that_differs_from_the_bar_before() -> None:
    rng = np.random.default_rng(3)
    weights = np.where(rng.random((500, 9)) < 0.1, rng.normal(size=(500, 9)), 0.0)
    before = np.vstack([np.zeros((1, 9)), weights[:-1]])
    expected = np.nonzero(weights != before)
    assert all(np.array_equal(a, b) for a, b in zip(weight_changes(weights), expected))
