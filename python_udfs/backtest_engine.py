"""The vectorised backtest engine: event signals -> positions -> PnL components, with the risk
allocator's four caps and the kill switches, for many strategies on a common grid of 5-minute bars.

Conventions (the tests' reference loop, tests/backtest/reference_engine.py, restates them one bar
and one strategy at a time):

- Weights are signed fractions of a fixed capital; a position is a constant notional while held
  (no compounding), so PnL is additive across bars, strategies and symbols.
- A signal at bar u (known at u's close) with entry lag L >= 1 and horizon H holds bars
  u+L .. u+L+H-1. A new signal while in a trade restarts that window from the new signal and takes
  its side. `next_open`: the position held over bar k is set at k's open; gross PnL of bar k is
  w[k-1] * (open[k] / last close - 1) + w[k] * (close[k] / open[k] - 1). `close`: it is set at the
  close of bar k-1; gross PnL is w[k] * (close[k] / last close - 1). A signal never earns its own
  bar's return.
- A bar without a price (a gap) cannot trade: every position on the symbol stays as it was and the
  bar's gross PnL is unknown (NaN) when a position is held; the move across the gap is booked at the
  next priced bar, against the last known close. A gap of at least `max_stale_bars` is a stale feed:
  positions are closed where trading resumes and trades entered before it are dropped.
- Costs of a change of weight d at bar k use what is known before the fill (the previous bar's
  close; python_udfs/execution_costs.py); funding settled at the close of bar k is paid by the
  weight held over bar k: -w[k] * rate (a long pays a positive rate), each settlement at its real
  interval. net = gross - fees - spread - impact + funding.
- Strategy rows are standalone (their own trades and costs); symbol rows net the strategies of a
  symbol, so offsetting trades are not paid twice; the portfolio is the sum of the symbols.
- Halts (kill switches) take effect from the bar after the breach: the target is zero from then on.

Path dependence (the new-exposure cap, halts) is solved in chunks, never as a Python loop over bars
per strategy. The bars are swept in chunks of CHUNK_BARS, each made, vectorised over its bars and
strategies, from the final state of the bars before it (positions held, drawdown scans, each
strategy's last legs). A halt changes nothing before the bar after its breach, so the earliest
breach in a chunk is exact, and so are the chunk's bars up to it: they stand, the halt is applied
and the next chunk starts after it. Caps that couple every strategy to every other (a binding gross
cap) cost the rest of a chunk per halt, not a pass over the year.
Inside a chunk, the new-exposure cap is solved as python_udfs/risk_allocator.py describes, and one
weight matrix goes through targets, caps, frozen cells and the new-exposure cap, edited in place.

Two entry points share the market, the caps, the costs and the funding: `run_backtest` (event
signals held for a horizon, the blueprints and spec/strategies) and `run_target_weights` (a book of
target weights per bar and symbol, the alpha bundle; see its docstring for what differs).

The PnL components of a position matrix (in full, or updated for the changed cells or columns) are
made in python_udfs/backtest_pnl.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from python_udfs.backtest_config import KillSwitches
from python_udfs.backtest_pnl import (ColumnReturns, Components, EngineSettings, Market, SymbolReturns,
                                      cells_by_column, column_returns, components, portfolio_net, run_cells,
                                      symbol_returns, unique_sorted)
from python_udfs.kill_switches import (NO_BREACH, Breach, DrawdownScan, false_runs, first_drawdown_breach,
                                       first_slippage_breach, last_true_index, stale_resumes)
from python_udfs.risk_allocator import (CappedTargets, Positions, Runs, binding_layers, cap_targets,
                                        limit_new_exposure)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PORTFOLIO = -1
"""Strategy index of a portfolio-wide halt."""
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class StrategyBook:
    """Strategies as columns: their symbol (column of the market), nominal weight (> 0), entry lag,
    horizon, and the signal matrix (bars x strategies: +1 long, -1 short, 0 none)."""

    symbol: IntArray
    weight: FloatArray
    entry_lag: IntArray
    horizon: IntArray
    signal: npt.NDArray[np.int8]


@dataclass(frozen=True)
class Halt:
    strategy: int  # PORTFOLIO for the whole book
    bar: int
    reason: str    # data_staleness | drawdown | slippage_ratio
    value: float   # gap bars, drawdown fraction or cost ratio


@dataclass(frozen=True)
class BacktestResult:
    strategies: Components
    symbols: Components
    binding_layer: npt.NDArray[np.int8]
    halts: list[Halt] = field(default_factory=list)
    sequential_bars: int = 0
    chunks: int = 0
    """Chunks of bars made: a halt ends its chunk at its bar, and the next chunk starts after it."""

    @property
    def portfolio_net(self) -> FloatArray:
        return portfolio_net(self.symbols)


def _validity(market: Market, mode: str) -> tuple[BoolArray, BoolArray]:
    valid = np.isfinite(market.open) & np.isfinite(market.close)
    if mode == "next_open":
        return valid, valid
    tradable = np.vstack([np.zeros((1, valid.shape[1]), dtype=bool), valid[:-1]])[: valid.shape[0]]
    return valid, tradable


class Trades(NamedTuple):
    """Every signal's holding interval [start, end] (bars, inclusive) in its strategy's column, and its
    side: the sparse form of the target matrix (signals are a small share of the bars)."""

    column: IntArray
    start: IntArray
    end: IntArray
    side: npt.NDArray[np.int8]


def signal_trades(book: StrategyBook, resume_bars: list[IntArray]) -> Trades:
    """A signal at u holds u+L .. u+L+H-1, until the next signal of the strategy takes over at its own
    entry, and not past the first stale-feed resume of the symbol after its entry."""
    bar, column = np.divmod(np.flatnonzero(book.signal != 0), max(book.symbol.size, 1))
    order = np.lexsort((bar, column))
    bar, column = bar[order], column[order]
    side = book.signal[bar, column]
    lag, horizon = book.entry_lag[column], book.horizon[column]
    start = bar + lag
    end = start + horizon - 1
    following = np.flatnonzero(column[1:] == column[:-1])
    end[following] = np.minimum(end[following], start[following + 1] - 1)
    symbol = book.symbol[column]
    for symbol_index in np.unique(symbol):
        resumes = resume_bars[symbol_index]
        if resumes.size == 0:
            continue
        mine = np.flatnonzero(symbol == symbol_index)
        after = np.searchsorted(resumes, start[mine], side="right")
        has = after < resumes.size
        end[mine[has]] = np.minimum(end[mine[has]], resumes[after[has]] - 1)
    return Trades(column, start, end, side)


def _raw_sides(trades: Trades, n_strategies: int, n_bars: int, halted_from: IntArray) -> npt.NDArray[np.int8]:
    """The side (+1, -1, 0) held over each trade's holding window, zero after the strategy's halt bar
    (the target is side x nominal weight), as a (bars x strategies) view of a strategy-major array.
    A strategy's trades do not overlap, so its column is a run-length code: a flat run before each
    trade, the trade, a flat tail, decoded by one np.repeat (no running sum over the bars)."""
    end = np.minimum(np.minimum(trades.end, halted_from[trades.column]), n_bars - 1)
    keep = trades.start <= end
    column, start, end, side = trades.column[keep], trades.start[keep], end[keep], trades.side[keep]
    same_column = np.zeros(column.size, dtype=bool)
    same_column[1:] = column[1:] == column[:-1]
    previous_end = np.where(same_column, np.concatenate([[-1], end[:-1]]), -1)
    last_end = np.full(n_strategies, -1, dtype=np.int64)
    last_end[column] = end  # trades are in time order within a strategy: the last one wins
    lengths = np.concatenate([np.stack([start - previous_end - 1, end - start + 1], axis=1).ravel(),
                              n_bars - last_end - 1])
    values = np.concatenate([np.stack([np.zeros_like(side), side], axis=1).ravel(),
                             np.zeros(n_strategies, dtype=np.int8)])
    run_column = np.concatenate([np.repeat(column, 2), np.arange(n_strategies)])
    run_order = np.concatenate([np.arange(2 * column.size), np.full(n_strategies, 2 * column.size)])
    order = np.lexsort((run_order, run_column))
    return np.repeat(values[order], lengths[order]).reshape(n_strategies, n_bars).T


def _holding(trades: Trades, book: StrategyBook, n_bars: int, halted_from: IntArray) -> tuple[FloatArray, Runs]:
    """What cap_targets would otherwise scan the target matrix for: max |target| of each strategy (its
    nominal weight if any trade survives the halts, else 0) and the runs of bars it holds."""
    end = np.minimum(np.minimum(trades.end, halted_from[trades.column]), n_bars - 1)
    keep = trades.start <= end
    traded = np.bincount(trades.column[keep], minlength=book.symbol.size) > 0
    return np.where(traded, book.weight, 0.0), Runs(trades.column[keep], trades.start[keep], end[keep])


class FrozenCells(NamedTuple):
    """The cells where a column cannot trade, and the bar whose weight each one carries (the last
    tradable bar before it; -1: none, so flat)."""

    bar: IntArray
    column: IntArray
    source: IntArray


def frozen_cells(tradable: BoolArray, symbol_of: IntArray) -> FrozenCells:
    """FrozenCells of the columns trading `symbol_of` (tradable: bars x symbols), found once per run:
    each run of untradable bars carries the bar before it."""
    bar, symbol, source = run_cells(false_runs(tradable))
    cell_bar, column, index = cells_by_column(bar, symbol, symbol_of)
    return FrozenCells(cell_bar, column, source[index])


def _freeze(weights: FloatArray, cells: FrozenCells) -> FloatArray:
    """A column cannot change where it cannot trade: carry the last tradable bar's weight (a copy;
    only the untradable cells are touched). _freeze_span over every bar."""
    if cells.bar.size == 0:
        return weights
    out = weights.copy()
    _freeze_span(out, cells, 0, np.zeros(0, dtype=np.int64), np.zeros((0, weights.shape[1])))
    return out


def _freeze_span(weights: FloatArray, cells: FrozenCells, first: int, sources: IntArray, earlier: FloatArray) -> None:
    """_freeze for the bars [first, first + len(weights)) of a chunk, in place: a frozen cell whose
    run began before the chunk carries that bar's weight from `earlier` (the rows of the bars
    `sources`, every bar a frozen run carries, final before the chunk)."""
    lo, hi = np.searchsorted(cells.bar, [first, first + weights.shape[0]])
    if lo == hi:
        return
    bar, column, source = cells.bar[lo:hi] - first, cells.column[lo:hi], cells.source[lo:hi]
    inside = source >= first
    row = np.minimum(np.searchsorted(sources, source), max(sources.size - 1, 0))
    before = earlier[row, column] if sources.size else np.zeros(source.size)
    carried = np.where(inside, weights[np.maximum(source - first, 0), column], np.where(source >= 0, before, 0.0))
    weights[bar, column] = carried


def _with_halts(halted_from: IntArray, halts: list[Halt]) -> IntArray:
    out = halted_from.copy()
    for halt in halts:
        if halt.strategy == PORTFOLIO:
            out = np.minimum(out, halt.bar)
        else:
            out[halt.strategy] = min(out[halt.strategy], halt.bar)
    return out


class _Run(NamedTuple):
    """What every chunk of run_backtest shares: found once per run."""

    market: Market
    book: StrategyBook
    settings: EngineSettings
    trades: Trades
    tradable: BoolArray
    frozen: FrozenCells
    returns: SymbolReturns
    strategy_view: ColumnReturns
    symbol_view: ColumnReturns
    members: IntArray
    frozen_sources: IntArray
    """The bars whose weights a run of untradable bars carries (sorted)."""


CHUNK_BARS = 2048
"""Bars per chunk of the sweep. The bars of a chunk after a halt are made for nothing, so a smaller
chunk wastes less per halt but pays the fixed cost of a chunk's numpy calls more often
(ingest/bench_backtest.py)."""


class _LegTail:
    """Each strategy's last `size` legs (spread + impact paid, and the slippage the cost model
    expected), by strategy and oldest first: the slippage window of a chunk's first legs reaches
    back into the chunks before it. Ragged: a strategy keeps only the legs it has had."""

    def __init__(self, n_columns: int, size: int) -> None:
        self.n_columns, self.size = n_columns, size
        self.column = np.zeros(0, dtype=np.int64)
        self.paid = np.zeros(0)
        self.wanted = np.zeros(0)

    def _joined(self, rows: Components) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """The tail's legs (negative keys, in order) and the chunk's (keys: their bars), by column then
        key. Both parts are sorted by column, so a stable sort only merges them."""
        column = np.concatenate([self.column, rows.leg_column])
        key = np.concatenate([np.arange(self.column.size) - self.column.size, rows.leg_bar])
        paid = np.concatenate([self.paid, rows.legs["spread"] + rows.legs["impact"]])
        wanted = np.concatenate([self.wanted, rows.legs["expected_slippage"]])
        order = np.argsort(column, kind="stable")
        return column[order], key[order], paid[order], wanted[order]

    def first_breach(self, rows: Components, window: int, limit: float) -> Breach:
        """first_slippage_breach over the chunk's legs, each judged on its window of legs."""
        column, key, paid, wanted = self._joined(rows)
        return first_slippage_breach(column, key, self.n_columns, paid, wanted, window, limit, judged=key >= 0)

    def extend(self, rows: Components) -> None:
        """Take the chunk's legs in: each column keeps its last `size` legs."""
        if rows.leg_column.size == 0:
            return
        column, _, paid, wanted = self._joined(rows)
        from_end = np.searchsorted(column, column, side="right") - np.arange(column.size) - 1
        keep = from_end < self.size
        self.column, self.paid, self.wanted = column[keep], paid[keep], wanted[keep]


class _Sweep:
    """Every strategy, symbol and the portfolio, made chunk by chunk of bars: full-size arrays whose
    rows before the current chunk are final, the drawdown scans fed up to it, each strategy's last
    legs, and the legs and funding of the chunks done."""

    def __init__(self, run: _Run) -> None:
        n_bars, n_symbols = run.tradable.shape
        n_strategies = run.book.symbol.size
        switches = run.settings.switches
        # The caps' targets, frozen where a strategy cannot trade (what the new-exposure layer sees): of
        # the last chunk made (from bar targets_from) and of the bars frozen runs carry.
        self.targets = np.zeros((0, n_strategies))
        self.targets_from = 0
        self.source_targets = np.zeros((run.frozen_sources.size, n_strategies))
        self.positions = np.zeros((n_bars, n_strategies))
        self.binding_layer = np.zeros((n_bars, n_strategies), dtype=np.int8)
        self.strategy_pnl = (np.empty((n_bars, n_strategies)), np.empty((n_bars, n_strategies)))
        self.symbol_position = np.zeros((n_bars, n_symbols))
        self.symbol_pnl = (np.empty((n_bars, n_symbols)), np.empty((n_bars, n_symbols)))
        self.portfolio_net = np.zeros((n_bars, 1))
        self.strategy_scan = DrawdownScan(run.book.weight, switches.strategy_max_drawdown)
        self.portfolio_scan = DrawdownScan(np.ones(1), switches.portfolio_max_drawdown)
        # A window of more legs than the run has bars is never full: that switch cannot fire.
        self.tail = _LegTail(n_strategies, switches.slippage_window_legs - 1) \
            if switches.slippage_window_legs <= n_bars else None
        self.strategy_parts: list[Components] = []
        self.symbol_parts: list[Components] = []
        self.sequential_bars = 0


def _chunk_trades(trades: Trades, first: int, stop: int) -> Trades:
    """The trades holding some bar of [first, stop), cut to it, in the chunk's own bar numbers."""
    inside = (trades.start < stop) & (trades.end >= first)
    return Trades(trades.column[inside], np.maximum(trades.start[inside], first) - first,
                  np.minimum(trades.end[inside], stop - 1) - first, trades.side[inside])


def _make_chunk(run: _Run, sweep: _Sweep, halted_from: IntArray, first: int, stop: int) -> tuple[Components, Components]:
    """The bars [first, stop) under the halts `halted_from`, from the positions, scans and symbols'
    positions of the bars before: targets, the caps, frozen cells and the new-exposure cap, then
    the strategies', symbols' and portfolio's PnL, written into `sweep`. Returns the chunk's strategy
    and symbol components (their legs and funding)."""
    book, settings, limits = run.book, run.settings, run.settings.limits
    n_symbols = run.tradable.shape[1]
    span = (first, stop)
    trades = _chunk_trades(run.trades, first, stop)
    local_halts = halted_from - first
    sides = _raw_sides(trades, book.symbol.size, stop - first, local_halts)
    # One matrix, the chunk's rows of the positions, goes through targets, caps, frozen cells and the
    # new-exposure cap: each edits it in place.
    weights = np.multiply(sides, book.weight[None, :], out=sweep.positions[first:stop])
    nominal, runs = _holding(trades, book, stop - first, local_halts)
    capped = cap_targets(weights, book.symbol, n_symbols, limits, in_place=True, nominal=nominal, runs=runs)
    _freeze_span(weights, run.frozen, first, run.frozen_sources, sweep.source_targets)
    lo, hi = np.searchsorted(run.frozen_sources, span)
    sweep.source_targets[lo:hi] = weights[run.frozen_sources[lo:hi] - first]
    held = sweep.positions[first - 1] if first > 0 else None
    # a cut made before the chunk is still being caught up when the positions held are not the targets
    catching_up = first > 0 and not np.array_equal(held, sweep.targets[first - 1 - sweep.targets_from])
    sweep.targets, sweep.targets_from = weights.copy(), first
    positions = limit_new_exposure(weights, run.tradable[first:stop], book.symbol, limits.max_new_exposure_per_bar,
                                   in_place=True, initial=held, catching_up=catching_up)
    sweep.sequential_bars += positions.sequential_bars
    # As in run_target_weights: a strategy whose symbol cannot trade at the bar is not cut by the
    # new-exposure layer there, though it may still sit below its target from an earlier cut.
    scaled = positions.cut & run.tradable[first:stop][:, book.symbol]
    sweep.binding_layer[first:stop] = binding_layers(sides, capped, positions.new_exposure_scale, book.symbol, scaled)
    moved = (positions.moved[0] + first, positions.moved[1])
    strategy_rows = components(sweep.positions, run.market, run.returns, run.strategy_view, settings, moved,
                               sweep.strategy_scan, span=span, out=sweep.strategy_pnl)
    symbol_held = sweep.symbol_position[first - 1] if first > 0 else None
    symbol_position, symbol_moved = symbol_positions(sweep.positions, (strategy_rows.leg_bar, strategy_rows.leg_column),
                                                     book.symbol, run.members, span, symbol_held)
    sweep.symbol_position[first:stop] = symbol_position
    symbol_rows = components(sweep.symbol_position, run.market, run.returns, run.symbol_view, settings, symbol_moved,
                             span=span, out=sweep.symbol_pnl)
    sweep.portfolio_net[first:stop, 0] = portfolio_net(symbol_rows, span)
    sweep.portfolio_scan.feed(sweep.portfolio_net, first, stop)
    return strategy_rows, symbol_rows


def _first_breaches(sweep: _Sweep, strategy_rows: Components, halted_from: IntArray, portfolio_halted: bool,
                    switches: KillSwitches) -> list[Halt]:
    """The earliest breach in the chunk just made: every live strategy (and the portfolio, if live)
    that breaches at that bar, each for its first reason. Nothing before that bar moves when they
    halt (a halt acts from the next bar), so they are exact together."""
    found: list[Halt] = []
    live = halted_from == NEVER
    checks = [(sweep.strategy_scan.breach(), "drawdown")]
    if sweep.tail is not None:
        checks.append((sweep.tail.first_breach(strategy_rows, switches.slippage_window_legs,
                                               switches.max_slippage_ratio), "slippage_ratio"))
    for breach, reason in checks:
        for strategy in np.flatnonzero(live & (breach.bar != NO_BREACH)):
            found.append(Halt(int(strategy), int(breach.bar[strategy]), reason, float(breach.value[strategy])))
    portfolio = sweep.portfolio_scan.breach()
    if not portfolio_halted and portfolio.bar[0] != NO_BREACH:
        found.append(Halt(PORTFOLIO, int(portfolio.bar[0]), "drawdown", float(portfolio.value[0])))
    if not found:
        return []
    earliest = min(halt.bar for halt in found)
    first_per_strategy: dict[int, Halt] = {}
    for halt in sorted(found, key=lambda h: (h.bar, h.strategy, h.reason)):
        if halt.bar == earliest:
            first_per_strategy.setdefault(halt.strategy, halt)
    return sorted(first_per_strategy.values(), key=lambda h: h.strategy)


def _head(rows: Components, stop: int) -> Components:
    """The legs and funding of a chunk's components before the bar `stop`."""
    legs = rows.leg_bar < stop
    settled = int(np.searchsorted(rows.funding_rows, stop))
    return Components(rows.position, rows.gross, rows.net, rows.funding_rows[:settled], rows.funding_values[:settled],
                      rows.leg_bar[legs], rows.leg_column[legs], {name: values[legs] for name, values in rows.legs.items()})


def _joined(position: FloatArray, pnl: tuple[FloatArray, FloatArray], parts: list[Components]) -> Components:
    """The components of every bar from those of the chunks (legs in column-major order)."""
    n_columns = position.shape[1]
    bar = np.concatenate([np.zeros(0, dtype=np.int64)] + [part.leg_bar for part in parts])
    column = np.concatenate([np.zeros(0, dtype=np.int64)] + [part.leg_column for part in parts])
    order = np.lexsort((bar, column))
    names = ("traded", "fees", "spread", "impact", "expected_slippage")
    legs = {name: np.concatenate([np.zeros(0)] + [part.legs[name] for part in parts])[order] for name in names}
    funding_rows = np.concatenate([np.zeros(0, dtype=np.int64)] + [part.funding_rows for part in parts])
    funding_values = np.concatenate([np.zeros((0, n_columns))] + [part.funding_values for part in parts])
    return Components(position, pnl[0], pnl[1], funding_rows, funding_values, bar[order], column[order], legs)


def symbol_members(symbol_of: IntArray, n_symbols: int) -> IntArray:
    """(symbols x most strategies on one symbol): the strategies of each symbol in column order,
    padded with -1."""
    counts = np.bincount(symbol_of, minlength=n_symbols)
    members = np.full((n_symbols, int(counts.max(initial=0))), -1, dtype=np.int64)
    order = np.argsort(symbol_of, kind="stable")
    slot = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    members[symbol_of[order], slot] = order
    return members


def symbol_positions(weights: FloatArray, legs: tuple[IntArray, IntArray], symbol_of: IntArray,
                     members: IntArray, span: tuple[int, int] | None = None,
                     initial: FloatArray | None = None) -> tuple[FloatArray, tuple[IntArray, IntArray]]:
    """The net weight of each symbol (its strategies' weights added in column order) over the bars
    `span` (default all) and the cells where it changes (row-major; `initial`: the symbols' net
    weights before the span, default flat). A sum of unchanged weights is unchanged, so it is added
    up only at the bars where one of the symbol's strategies changes (`legs`: those cells, in the
    span) and carried between them: a few additions per leg instead of a (bars x strategies x
    symbols) product, and the same bits on every machine (a BLAS product's order of addition depends
    on its kernel)."""
    first, stop = (0, weights.shape[0]) if span is None else span
    n_symbols = members.shape[0]
    before_span = np.zeros(n_symbols) if initial is None else initial
    cell = unique_sorted(legs[0] * n_symbols + symbol_of[legs[1]])
    bar, symbol = np.divmod(cell, n_symbols)
    total = np.zeros(cell.size)
    for slot in range(members.shape[1]):
        strategy = members[symbol, slot]
        total += np.where(strategy >= 0, weights[bar, np.maximum(strategy, 0)], 0.0)
    # carry each symbol's value from its change bars to the next (run lengths, symbol-major)
    by_symbol = np.lexsort((bar, symbol))
    bar, symbol, total = bar[by_symbol], symbol[by_symbol], total[by_symbol]
    opens = np.ones(bar.size, dtype=bool)
    opens[1:] = symbol[1:] != symbol[:-1]
    closes = np.ones(bar.size, dtype=bool)
    closes[:-1] = symbol[1:] != symbol[:-1]
    following = np.where(closes, stop, np.concatenate([bar[1:], [stop]]))
    lead = np.full(n_symbols, stop, dtype=np.int64)
    lead[symbol[opens]] = bar[opens]
    lengths = np.concatenate([lead - first, following - bar])
    values = np.concatenate([before_span, total])
    run_symbol = np.concatenate([np.arange(n_symbols), symbol])
    run_order = np.concatenate([np.full(n_symbols, -1), np.arange(bar.size)])
    order = np.lexsort((run_order, run_symbol))
    position = np.ascontiguousarray(np.repeat(values[order], lengths[order]).reshape(n_symbols, stop - first).T)
    before = np.where(bar > first, position[np.maximum(bar - 1 - first, 0), symbol], before_span[symbol])
    moved = np.flatnonzero(total != before)
    change = np.sort(bar[moved] * n_symbols + symbol[moved])
    return position, np.divmod(change, n_symbols)


def run_backtest(market: Market, book: StrategyBook, settings: EngineSettings) -> BacktestResult:
    """Positions, caps, halts and PnL of every strategy, symbol and the portfolio (see the module
    docstring for the conventions)."""
    n_bars, n_symbols = market.close.shape
    if book.signal.shape != (n_bars, book.symbol.size):
        raise ValueError(f"signal matrix is {book.signal.shape}, expected (bars, strategies) = {(n_bars, book.symbol.size)}")
    if np.any(book.entry_lag < 1):
        raise ValueError("entry_lag must be at least 1 bar: a signal is known only at its bar's close")
    if np.any(book.horizon < 1) or np.any(book.weight <= 0):
        raise ValueError("every strategy needs a horizon >= 1 bar and a nominal weight > 0")
    valid, tradable = _validity(market, settings.execution_mode)
    resumes = stale_resumes(valid, settings.execution_mode, settings.switches.max_stale_bars)
    returns = symbol_returns(market, settings.execution_mode)
    resume_bars = resumes.resume_bars_by_symbol()
    symbols = np.arange(n_symbols)
    frozen = frozen_cells(tradable, book.symbol)
    run = _Run(market, book, settings, signal_trades(book, resume_bars), tradable, frozen, returns,
               column_returns(returns, book.symbol), column_returns(returns, symbols),
               symbol_members(book.symbol, n_symbols), unique_sorted(frozen.source[frozen.source >= 0]))
    # The sweep: chunk by chunk of bars, each made from the final state of the bars before it. The
    # earliest breach in a chunk is exact (nothing before it depends on a later halt), and so are the
    # chunk's bars up to it: they stand, the breach is applied (acting from the next bar), and the
    # next chunk starts there. So the caps may couple every strategy to every other and a halt still
    # costs only the rest of its chunk, not a pass over every bar.
    sweep = _Sweep(run)
    halted_from = np.full(book.symbol.size, NEVER, dtype=np.int64)
    portfolio_halted = False
    halts: list[Halt] = []
    chunks = 0
    first = 0
    while first < n_bars:
        stop = min(first + CHUNK_BARS, n_bars)
        scans = sweep.strategy_scan.snapshot(), sweep.portfolio_scan.snapshot()
        chunks += 1
        strategy_rows, symbol_rows = _make_chunk(run, sweep, halted_from, first, stop)
        found = _first_breaches(sweep, strategy_rows, halted_from, portfolio_halted, settings.switches)
        if found:
            halts.extend(found)
            portfolio_halted = portfolio_halted or found[0].strategy == PORTFOLIO
            halted_from = _with_halts(halted_from, found)
            if found[0].bar + 1 < stop:
                stop = found[0].bar + 1
                strategy_rows, symbol_rows = _head(strategy_rows, stop), _head(symbol_rows, stop)
                for scan, snapshot, net in ((sweep.strategy_scan, scans[0], sweep.strategy_pnl[1]),
                                            (sweep.portfolio_scan, scans[1], sweep.portfolio_net)):
                    scan.restore(snapshot)
                    scan.feed(net, first, stop)
        if sweep.tail is not None:
            sweep.tail.extend(strategy_rows)
        sweep.strategy_parts.append(strategy_rows)
        sweep.symbol_parts.append(symbol_rows)
        first = stop
    halts.extend(_stale_halts(sweep.positions, resumes.gap_bars, book.symbol))
    halts.sort(key=lambda halt: (halt.bar, halt.strategy, halt.reason))
    return BacktestResult(_joined(sweep.positions, sweep.strategy_pnl, sweep.strategy_parts),
                          _joined(sweep.symbol_position, sweep.symbol_pnl, sweep.symbol_parts), sweep.binding_layer, halts,
                          sweep.sequential_bars, chunks)


def _stale_halts(position: FloatArray, gap_bars: IntArray, symbol: IntArray) -> list[Halt]:
    """A stale-feed halt for each strategy holding a position into a resume bar (resume bars are few:
    only those cells are looked at)."""
    resume_bar, resume_symbol = np.divmod(np.flatnonzero(gap_bars > 0), max(gap_bars.shape[1], 1))
    bar, strategy, _ = cells_by_column(resume_bar, resume_symbol, symbol)
    held = np.where(bar > 0, position[np.maximum(bar - 1, 0), strategy], 0.0) != 0
    return [Halt(int(s), int(b), "data_staleness", float(gap_bars[b, symbol[s]]))
            for b, s in zip(bar[held], strategy[held])]


# --------------------------------------------------------------------------------------------------
# Target weights: a book that says, bar by bar, what it wants to hold
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightsResult:
    """The symbol rows of a target-weights book (one column per market symbol; the portfolio is
    their sum), the layer that cut each target, the halts and the bars solved one at a time."""

    symbols: Components
    targets: FloatArray
    """The targets after the stale-feed rule and the halts, before the caps."""
    binding_layer: npt.NDArray[np.int8]
    halts: list[Halt] = field(default_factory=list)
    sequential_bars: int = 0

    @property
    def portfolio_net(self) -> FloatArray:
        return portfolio_net(self.symbols)


def latest_resume(gap_bars: IntArray) -> IntArray:
    """Per bar and symbol, the latest stale-feed resume bar at or before the bar (-1: none)."""
    return last_true_index(gap_bars > 0)


def run_target_weights(market: Market, targets: FloatArray, settings: EngineSettings,
                       decided_at: IntArray | None = None) -> WeightsResult:
    """Positions, caps, halts and PnL of a book of target weights: `targets[k, j]` is the signed
    weight (fraction of capital) the book wants on symbol j over bar k, decided at the close of bar
    `decided_at[k]` (default k - 1; it must be before k: a weight acts from the bar after its
    decision at the earliest; negative values are bars before the window).

    The same rules as `run_backtest` (fills, marks, gaps, costs, funding, blocks), with each symbol
    as one column:
    - caps: the symbol layer (|weight| <= symbol_max_net_weight, per bar), the portfolio layer (sum
      of |weights| <= portfolio_max_gross_weight, per bar) and the new-exposure layer (path
      dependent). The strategy layer does not apply: it caps a constant-notional strategy's nominal
      weight over its whole life, which a book that resizes every bar does not have;
    - a symbol that cannot trade keeps its position; after a stale feed (at least max_stale_bars
      gap bars) the targets decided before the gap ended are dropped (0) from the resume bar until
      a decision held from the resume on (decided_at + 1 >= the resume bar), as the event path drops
      the trades entered before the gap;
    - kill switches: the portfolio drawdown (from the bar after the breach every target is 0) and
      the stale feed (a halt row per symbol held into a resume bar). The strategy drawdown is the
      portfolio's here, and the slippage-ratio switch, which judges a blueprint's costs against the
      ones its discovery assumed, has no such expectation to compare with, so it is not applied.
    """
    n_bars, n_symbols = market.close.shape
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (n_bars, n_symbols):
        raise ValueError(f"targets are {targets.shape}, expected (bars, symbols) = {(n_bars, n_symbols)}")
    if not np.isfinite(targets).all():
        raise ValueError("targets must be finite: write 0 for no position (an unknown weight is a decision to make)")
    decided = np.arange(n_bars, dtype=np.int64) - 1 if decided_at is None else np.asarray(decided_at, dtype=np.int64)
    if decided.shape != (n_bars,):
        raise ValueError(f"decided_at has shape {decided.shape}, expected ({n_bars},)")
    if np.any(decided >= np.arange(n_bars)):
        first = int(np.flatnonzero(decided >= np.arange(n_bars))[0])
        raise ValueError(f"row {first} is decided at bar {int(decided[first])}: a weight decided at a bar's close "
                         "can be held from the next bar at the earliest")
    mode, switches = settings.execution_mode, settings.switches
    valid, tradable = _validity(market, mode)
    resumes = stale_resumes(valid, mode, switches.max_stale_bars)
    stale = decided[:, None] + 1 < latest_resume(resumes.gap_bars)
    wanted = np.where(stale, 0.0, targets) if stale.any() else targets
    returns = symbol_returns(market, mode)
    columns = np.arange(n_symbols, dtype=np.int64)
    view = column_returns(returns, columns)
    frozen_at = frozen_cells(tradable, columns)
    limits = replace(settings.limits, strategy_max_weight=np.inf)

    def simulate(book: FloatArray) -> tuple[CappedTargets, Positions, Components]:
        capped = cap_targets(book, columns, n_symbols, limits)
        frozen = _freeze(capped.weights, frozen_at)
        positions = limit_new_exposure(frozen, tradable, columns, limits.max_new_exposure_per_bar)
        return capped, positions, components(positions.weights, market, returns, view, settings, positions.moved)

    capped, positions, rows = simulate(wanted)
    halts: list[Halt] = []
    breach = first_drawdown_breach(portfolio_net(rows)[:, None], np.ones(1), switches.portfolio_max_drawdown)
    if breach.bar[0] != NO_BREACH:
        bar = int(breach.bar[0])
        halts.append(Halt(PORTFOLIO, bar, "drawdown", float(breach.value[0])))
        # Nothing before the breach moves, so the breach stays the first one: one more pass is exact.
        wanted = wanted.copy()
        wanted[bar + 1:] = 0.0
        capped, positions, rows = simulate(wanted)
    # only a symbol that trades at the bar can be cut by the new-exposure layer there (a frozen one
    # may still sit below its target from an earlier cut)
    scaled = positions.cut & tradable
    layers = binding_layers(wanted, capped, positions.new_exposure_scale, columns, scaled)
    halts.extend(_stale_halts(positions.weights, resumes.gap_bars, columns))
    halts.sort(key=lambda halt: (halt.bar, halt.strategy, halt.reason))
    return WeightsResult(rows, wanted, layers, halts, positions.sequential_bars)
