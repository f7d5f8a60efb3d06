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
per strategy: see python_udfs/risk_allocator.py and python_udfs/kill_switches.py. Each pass under a
new batch of halts starts from the previous one: the positions are made again (cheap), but the PnL,
legs, funding and drawdown scans are remade only for the cells or the strategies whose positions
changed (`_simulate`). One weight matrix per pass goes through targets, caps, frozen cells and the
new-exposure cap, edited in place.

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
                                      cells_by_column, changed_cells, column_returns, components, portfolio_net,
                                      run_cells, symbol_returns, unique_sorted, update_columns, update_components)
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
    passes: int = 0

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


def _freeze(weights: FloatArray, cells: FrozenCells, in_place: bool = False) -> FloatArray:
    """A column cannot change where it cannot trade: carry the last tradable bar's weight (only the
    untradable cells are touched; `in_place`: the caller hands `weights` over)."""
    if cells.bar.size == 0:
        return weights
    out = weights if in_place else weights.copy()
    out[cells.bar, cells.column] = np.where(cells.source >= 0, weights[np.maximum(cells.source, 0), cells.column], 0.0)
    return out


class _Path(NamedTuple):
    """One simulation of every strategy under a given set of halts, with the first drawdown breach of
    each strategy and of the portfolio on it."""

    sides: npt.NDArray[np.int8]
    """The targets' sides (the target is side x nominal weight; binding_layers needs only where it is 0)."""
    capped: CappedTargets
    """The scales of the caps (its weights are the positions' array, edited in place by the later layers)."""
    positions: Positions
    strategy_rows: Components
    symbol_rows: Components
    portfolio_net: FloatArray
    strategy_drawdown: Breach
    portfolio_drawdown: Breach


def _breaches(path: _Path, book: StrategyBook, halted_from: IntArray, portfolio_halted: bool,
              switches: KillSwitches) -> list[Halt]:
    """Every live strategy's first breach on `path`, and the portfolio's, earliest first."""
    found: list[Halt] = []
    live = halted_from == NEVER
    rows = path.strategy_rows
    slippage: Breach = first_slippage_breach(rows.leg_column, rows.leg_bar, live.size,
                                             rows.legs["spread"] + rows.legs["impact"], rows.legs["expected_slippage"],
                                             switches.slippage_window_legs, switches.max_slippage_ratio)
    for breach, reason in ((path.strategy_drawdown, "drawdown"), (slippage, "slippage_ratio")):
        for strategy in np.flatnonzero(live & (breach.bar != NO_BREACH)):
            found.append(Halt(int(strategy), int(breach.bar[strategy]), reason, float(breach.value[strategy])))
    portfolio = path.portfolio_drawdown
    if not portfolio_halted and portfolio.bar[0] != NO_BREACH:
        found.append(Halt(PORTFOLIO, int(portfolio.bar[0]), "drawdown", float(portfolio.value[0])))
    first_per_strategy: dict[int, Halt] = {}
    for halt in sorted(found, key=lambda h: (h.bar, h.strategy, h.reason)):
        first_per_strategy.setdefault(halt.strategy, halt)
    return sorted(first_per_strategy.values(), key=lambda h: (h.bar, h.strategy))


def _with_halts(halted_from: IntArray, halts: list[Halt]) -> IntArray:
    out = halted_from.copy()
    for halt in halts:
        if halt.strategy == PORTFOLIO:
            out = np.minimum(out, halt.bar)
        else:
            out[halt.strategy] = min(out[halt.strategy], halt.bar)
    return out


def _exact_halts(batch: list[Halt], on_trial: list[Halt], n_bars: int) -> list[Halt]:
    """The halts of `batch` that are exact, given `on_trial`: the first breach of every strategy live
    before the batch (and of the portfolio, if live) on the path with the whole batch applied.

    A halt at bar h acts from h + 1, and a breach at h depends on the path up to h only. So the
    batch's path agrees with the true one up to the earliest bar where a halt may be missing or
    wrong: a breach on it of a strategy outside the batch (the batch moved that strategy's PnL
    through the caps), or a batch member whose first breach on it is not the one it was halted for
    (the earlier members moved its PnL first). Up to that bar, each member found again at its own
    bar for its own reason is exact; the rest are found again on the next pass. The earliest member
    is always kept (nothing before it changed), so every pass makes progress."""
    wanted = {halt.strategy: halt for halt in batch}
    until = n_bars - 1
    valid: set[int] = set()
    for halt in on_trial:
        member = wanted.get(halt.strategy)
        if member is not None and (halt.bar, halt.reason) == (member.bar, member.reason):
            valid.add(halt.strategy)
        else:
            until = min(until, halt.bar)
    for member in batch:
        if member.strategy not in valid:
            until = min(until, member.bar)
    return [halt for halt in batch if halt.strategy in valid and halt.bar <= until]


class _Run(NamedTuple):
    """What every pass of run_backtest shares: found once per run."""

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


def _positions(run: _Run, halted_from: IntArray) -> tuple[npt.NDArray[np.int8], CappedTargets, Positions]:
    """Targets, the caps, the frozen cells and the new-exposure cap, editing one weight matrix in place."""
    book, settings = run.book, run.settings
    n_bars, n_symbols = run.tradable.shape
    sides = _raw_sides(run.trades, book.symbol.size, n_bars, halted_from)
    weights = np.multiply(sides, book.weight[None, :], out=np.empty(sides.shape))
    nominal, runs = _holding(run.trades, book, n_bars, halted_from)
    capped = cap_targets(weights, book.symbol, n_symbols, settings.limits, in_place=True, nominal=nominal, runs=runs)
    frozen = _freeze(capped.weights, run.frozen, in_place=True)
    positions = limit_new_exposure(frozen, run.tradable, book.symbol, settings.limits.max_new_exposure_per_bar,
                                   in_place=True)
    return sides, capped, positions


SPARSE_UPDATE_SHARE = 0.005
"""Up to this share of changed cells, a pass remakes its PnL cell by cell."""

SPARSE_COLUMN_SHARE = 0.5
"""Up to this share of changed columns, a pass remakes the PnL of those columns only."""


def _strategy_rows(run: _Run, positions: Positions, previous: _Path | None,
                   changed: IntArray) -> tuple[Components, Breach]:
    """The strategies' PnL and first drawdown breaches: in full (scanned as it is made), or from
    `previous`, remaking only the cells (when few) or the columns (when some) that changed."""
    book, settings = run.book, run.settings
    limit = settings.switches.strategy_max_drawdown
    weights = positions.weights
    n_columns = weights.shape[1]
    columns = np.flatnonzero(np.bincount(changed % n_columns, minlength=n_columns)) if previous is not None else \
        np.arange(n_columns)
    if previous is None or columns.size > SPARSE_COLUMN_SHARE * n_columns:
        scan = DrawdownScan(book.weight, limit)
        rows = components(weights, run.market, run.returns, run.strategy_view, settings, positions.moved, scan)
        return rows, scan.breach()
    bar, value = previous.strategy_drawdown.bar.copy(), previous.strategy_drawdown.value.copy()
    if changed.size <= SPARSE_UPDATE_SHARE * weights.size:
        rows = update_components(previous.strategy_rows, weights, changed, run.market, run.returns,
                                 run.strategy_view, settings)
        if columns.size:
            rescan = first_drawdown_breach(rows.net[:, columns], book.weight[columns], limit)
            bar[columns], value[columns] = rescan.bar, rescan.value
        return rows, Breach(bar, value)
    scan = DrawdownScan(book.weight[columns], limit)
    rows = update_columns(previous.strategy_rows, weights, columns, run.market, run.returns, run.strategy_view,
                          settings, scan)
    bar[columns], value[columns] = scan.bar, scan.value
    return rows, Breach(bar, value)


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
                     members: IntArray) -> tuple[FloatArray, tuple[IntArray, IntArray]]:
    """The net weight of each symbol (its strategies' weights added in column order) and the cells
    where it changes (row-major). A sum of unchanged weights is unchanged, so it is added up only at
    the bars where one of the symbol's strategies changes (`legs`: those cells) and carried between
    them: a few additions per leg instead of a (bars x strategies x symbols) product, and the same
    bits on every machine (a BLAS product's order of addition depends on its kernel)."""
    n_bars = weights.shape[0]
    n_symbols = members.shape[0]
    cell = unique_sorted(legs[0] * n_symbols + symbol_of[legs[1]])
    bar, symbol = np.divmod(cell, n_symbols)
    total = np.zeros(cell.size)
    for slot in range(members.shape[1]):
        strategy = members[symbol, slot]
        total += np.where(strategy >= 0, weights[bar, np.maximum(strategy, 0)], 0.0)
    # carry each symbol's value from its change bars to the next (run lengths, symbol-major)
    by_symbol = np.lexsort((bar, symbol))
    bar, symbol, total = bar[by_symbol], symbol[by_symbol], total[by_symbol]
    first = np.ones(bar.size, dtype=bool)
    first[1:] = symbol[1:] != symbol[:-1]
    last = np.ones(bar.size, dtype=bool)
    last[:-1] = symbol[1:] != symbol[:-1]
    following = np.where(last, n_bars, np.concatenate([bar[1:], [n_bars]]))
    lead = np.full(n_symbols, n_bars, dtype=np.int64)
    lead[symbol[first]] = bar[first]
    lengths = np.concatenate([lead, following - bar])
    values = np.concatenate([np.zeros(n_symbols), total])
    run_symbol = np.concatenate([np.arange(n_symbols), symbol])
    run_order = np.concatenate([np.full(n_symbols, -1), np.arange(bar.size)])
    order = np.lexsort((run_order, run_symbol))
    position = np.ascontiguousarray(np.repeat(values[order], lengths[order]).reshape(n_symbols, n_bars).T)
    before = np.where(bar > 0, position[np.maximum(bar - 1, 0), symbol], 0.0)
    moved = np.flatnonzero(total != before)
    change = np.sort(bar[moved] * n_symbols + symbol[moved])
    return position, np.divmod(change, n_symbols)


def _symbol_rows(run: _Run, strategy_rows: Components) -> Components:
    """The symbols' PnL (their positions are the sums of their strategies')."""
    position, moved = symbol_positions(strategy_rows.position, (strategy_rows.leg_bar, strategy_rows.leg_column),
                                       run.book.symbol, run.members)
    return components(position, run.market, run.returns, run.symbol_view, run.settings, moved)


def _simulate(run: _Run, halted_from: IntArray, previous: _Path | None = None) -> _Path:
    """One pass under the halts `halted_from`. With `previous` (a pass under fewer or other halts),
    the PnL is updated where the positions differ from it and `previous` hands its PnL arrays over
    (only its positions stay valid)."""
    sides, capped, positions = _positions(run, halted_from)
    changed = changed_cells(previous.positions.weights, positions.weights) if previous is not None else \
        np.zeros(0, dtype=np.int64)
    strategy_rows, strategy_drawdown = _strategy_rows(run, positions, previous, changed)
    symbol_rows = _symbol_rows(run, strategy_rows)
    net = portfolio_net(symbol_rows)
    portfolio = first_drawdown_breach(net[:, None], np.ones(1), run.settings.switches.portfolio_max_drawdown)
    return _Path(sides, capped, positions, strategy_rows, symbol_rows, net, strategy_drawdown, portfolio)


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
    run = _Run(market, book, settings, signal_trades(book, resume_bars), tradable, frozen_cells(tradable, book.symbol),
               returns, column_returns(returns, book.symbol), column_returns(returns, symbols),
               symbol_members(book.symbol, n_symbols))
    passes = 0
    sequential = 0

    def simulate(halted_from: IntArray, previous: _Path | None = None) -> _Path:
        nonlocal passes, sequential
        passes += 1
        path = _simulate(run, halted_from, previous)
        sequential += path.positions.sequential_bars
        return path

    # Halts in batches: every first breach found is applied at once, and those the batch itself
    # moved (through the caps, or a portfolio halt before them) are taken back and found again on
    # the trial path (_exact_halts); the trial's other breaches make the next batch. The trial is
    # exact only up to a bar, so a batch taken from it can fail as a whole: then the breaches are
    # found again on the exact path. A portfolio breach joins a batch only as its earliest member
    # (strategy halts before it change the portfolio's PnL).
    halted_from = np.full(book.symbol.size, NEVER, dtype=np.int64)
    portfolio_halted = False
    halts: list[Halt] = []
    path, path_from = simulate(halted_from), halted_from
    found = _breaches(path, book, halted_from, portfolio_halted, settings.switches)
    while found or not np.array_equal(path_from, halted_from):
        if found:
            if found[0].strategy == PORTFOLIO:
                batch = [halt for halt in found if halt.bar <= found[0].bar]
            else:
                batch = [halt for halt in found if halt.strategy != PORTFOLIO]
            trial_from = _with_halts(halted_from, batch)
            trial = simulate(trial_from, path)  # `path` hands its PnL arrays over: only its positions stay valid
            on_trial = _breaches(trial, book, halted_from, portfolio_halted, settings.switches)
            kept = _exact_halts(batch, on_trial, n_bars)
            path, path_from = trial, trial_from
            if kept:
                halts.extend(kept)
                portfolio_halted = portfolio_halted or any(halt.strategy == PORTFOLIO for halt in kept)
                halted_from = _with_halts(halted_from, kept)
                # The next batch: the trial's other breaches, taken as found. Those of them that are
                # wrong (the trial is exact only up to the earliest bar _exact_halts allowed) are
                # sorted out the same way on the next trial.
                now_halted = {halt.strategy for halt in kept}
                found = [halt for halt in on_trial if halt.strategy not in now_halted
                         and not (halt.strategy == PORTFOLIO and portfolio_halted)]
                continue
        # Either a batch taken from a trial kept nothing (its earliest member did not hold there), or
        # nothing is left but the trial applied halts that were taken back: remake the exact path under
        # the kept halts, whose earliest breach always holds.
        path, path_from = simulate(halted_from, path), halted_from
        found = _breaches(path, book, halted_from, portfolio_halted, settings.switches)
    positions = path.positions
    # As in run_target_weights: a strategy whose symbol cannot trade at the bar is not cut by the
    # new-exposure layer there, though it may still sit below its target from an earlier cut.
    scaled = positions.cut & tradable[:, book.symbol]
    layers = binding_layers(path.sides, path.capped, positions.new_exposure_scale, book.symbol, scaled)
    halts.extend(_stale_halts(positions.weights, resumes.gap_bars, book.symbol))
    halts.sort(key=lambda halt: (halt.bar, halt.strategy, halt.reason))
    return BacktestResult(path.strategy_rows, path.symbol_rows, layers, halts, sequential, passes)


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
