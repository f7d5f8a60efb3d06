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
per strategy: see python_udfs/risk_allocator.py and python_udfs/kill_switches.py.

Two entry points share the market, the caps, the costs and the funding: `run_backtest` (event
signals held for a horizon, the blueprints and spec/strategies) and `run_target_weights` (a book of
target weights per bar and symbol, the alpha bundle; see its docstring for what differs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.cost_model import CostConfig
from python_udfs.execution_costs import CostInputs, LegCosts, leg_costs
from python_udfs.kill_switches import (BLOCK_BARS, NO_BREACH, Breach, first_drawdown_breach, first_slippage_breach,
                                       last_true_index, stale_resumes)
from python_udfs.risk_allocator import (CappedTargets, Positions, binding_layers, cap_targets, limit_new_exposure,
                                        symbol_matrix)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PORTFOLIO = -1
"""Strategy index of a portfolio-wide halt."""
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Market:
    """Prices and cost inputs per bar (rows) and symbol (columns). `open`/`close` are NaN at gaps;
    `funding_rate` is the rate settled at the bar's close (0 when none is due, NaN when the funding
    series does not say); `initial_close` is the last close before the first bar (NaN: unknown)."""

    open: FloatArray
    close: FloatArray
    funding_rate: FloatArray
    costs: CostInputs
    initial_close: FloatArray


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
class EngineSettings:
    execution_mode: str
    capital_usd: float
    limits: RiskLimits
    switches: KillSwitches
    costs: CostConfig


@dataclass(frozen=True)
class Halt:
    strategy: int  # PORTFOLIO for the whole book
    bar: int
    reason: str    # data_staleness | drawdown | slippage_ratio
    value: float   # gap bars, drawdown fraction or cost ratio


class Components:
    """PnL components (fractions of capital) per bar and column, and the weights behind them.

    position, gross and net are dense (bars x columns). Funding is non-zero only at settlement bars,
    so it is kept for those rows only; the legs (cells where the weight changes) are a small share of
    the cells, so their costs are kept sparse, in column-major order (column, then bar). `funding`,
    `traded`, `fees`, `spread`, `impact` and `expected_slippage` give dense matrices on demand."""

    def __init__(self, position: FloatArray, gross: FloatArray, net: FloatArray, funding_rows: IntArray,
                 funding_values: FloatArray, leg_bar: IntArray, leg_column: IntArray, legs: dict[str, FloatArray]) -> None:
        self.position, self.gross, self.net = position, gross, net
        self.funding_rows, self.funding_values = funding_rows, funding_values
        self.leg_bar, self.leg_column, self.legs = leg_bar, leg_column, legs

    def dense(self, name: str) -> FloatArray:
        out = np.zeros_like(self.position)
        if name == "funding":
            out[self.funding_rows] = self.funding_values
        else:
            out[self.leg_bar, self.leg_column] = self.legs[name]
        return out

    @property
    def funding(self) -> FloatArray:
        return self.dense("funding")

    @property
    def traded(self) -> FloatArray:
        return self.dense("traded")

    @property
    def fees(self) -> FloatArray:
        return self.dense("fees")

    @property
    def spread(self) -> FloatArray:
        return self.dense("spread")

    @property
    def impact(self) -> FloatArray:
        return self.dense("impact")

    @property
    def expected_slippage(self) -> FloatArray:
        return self.dense("expected_slippage")


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
    column, bar = np.nonzero(book.signal.T)
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


def _raw_targets(trades: Trades, book: StrategyBook, n_bars: int, halted_from: IntArray) -> FloatArray:
    """Side x nominal weight over each trade's holding window, zero after the strategy's halt bar.
    Built from +side / -side marks at each interval's ends and an integer running sum, so every
    target is exactly side x weight."""
    end = np.minimum(np.minimum(trades.end, halted_from[trades.column]), n_bars - 1)
    keep = trades.start <= end
    marks = np.zeros((n_bars + 1, book.symbol.size), dtype=np.int8)
    np.add.at(marks, (trades.start[keep], trades.column[keep]), trades.side[keep])
    np.add.at(marks, (end[keep] + 1, trades.column[keep]), -trades.side[keep])
    side = np.cumsum(marks[:n_bars], axis=0, dtype=np.int8)
    return side * book.weight[None, :]


def _freeze(weights: FloatArray, tradable: BoolArray) -> FloatArray:
    """A column cannot change where it cannot trade: carry the last tradable bar's weight (only the
    columns with an untradable bar are touched)."""
    columns = np.flatnonzero(~tradable.all(axis=0))
    if columns.size == 0:
        return weights
    out = weights.copy()
    last = last_true_index(tradable[:, columns])
    held = np.take_along_axis(weights[:, columns], np.maximum(last, 0), axis=0)
    out[:, columns] = np.where(last >= 0, held, 0.0)
    return out


def _marks(market: Market) -> FloatArray:
    """The last known close before each bar (the price a position was last marked at)."""
    close = market.close
    last = last_true_index(np.isfinite(close))
    known = np.take_along_axis(close, np.maximum(last, 0), axis=0)
    through = np.where(last >= 0, known, market.initial_close[None, :])
    return np.vstack([market.initial_close[None, :], through[:-1]])[: close.shape[0]]


class KnownReturns(NamedTuple):
    """A (bars x symbols) return matrix with its unknown cells set to 0 and listed apart."""

    values: FloatArray
    unknown_bar: IntArray
    unknown_symbol: IntArray


def known_returns(values: FloatArray) -> KnownReturns:
    unknown = np.isnan(values)
    bar, symbol = np.nonzero(unknown)
    return KnownReturns(np.where(unknown, 0.0, values), bar, symbol)


@dataclass(frozen=True)
class SymbolReturns:
    """Per bar and symbol: the return a position held from the previous mark to the fill earns
    (`carried`: next_open's open / last close - 1, zero in close mode) and the return of the weight
    set at the fill (`held`: close / open - 1, or close / last close - 1 in close mode)."""

    carried: KnownReturns
    held: KnownReturns
    funding: KnownReturns
    funding_rows: IntArray
    """Bars where some symbol settles funding (or its rate is unknown)."""


def symbol_returns(market: Market, mode: str) -> SymbolReturns:
    mark = _marks(market)
    funding = known_returns(market.funding_rate)
    funding_rows = np.union1d(np.flatnonzero((funding.values != 0).any(axis=1)), funding.unknown_bar)
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "next_open":
            carried, held = market.open / mark - 1.0, market.close / market.open - 1.0
        else:
            carried, held = np.zeros_like(market.close), market.close / mark - 1.0
    return SymbolReturns(known_returns(carried), known_returns(held), funding, funding_rows)


def _held_pnl(weight: FloatArray, ret: "KnownReturns", columns: IntArray, rows: slice | IntArray = slice(None)) -> FloatArray:
    """weight x the column's symbol return over the bars `rows` of the return matrix (weight has one
    row per selected bar): 0 when flat (whatever the return), NaN when held over an unknown return.
    Unknown returns are few (gaps): they are zero in `ret.values` and put back as NaN only at the
    held cells."""
    out = weight * np.take(ret.values[rows], columns, axis=1)
    if ret.unknown_bar.size:
        selected = np.arange(ret.values.shape[0])[rows]
        local = np.searchsorted(selected, ret.unknown_bar)
        inside = local < selected.size
        inside[inside] &= selected[local[inside]] == ret.unknown_bar[inside]
        unknown_bar, unknown_symbol = local[inside], ret.unknown_symbol[inside]
        by_symbol = [np.flatnonzero(columns == symbol) for symbol in range(ret.values.shape[1])]
        counts = np.array([len(c) for c in by_symbol], dtype=np.int64)[unknown_symbol]
        bars = np.repeat(unknown_bar, counts)
        cols = np.concatenate([by_symbol[symbol] for symbol in unknown_symbol]) if counts.sum() else \
            np.zeros(0, dtype=np.int64)
        held = weight[bars, cols] != 0
        out[bars[held], cols[held]] = np.nan
    return out


def components(position: FloatArray, market: Market, returns: SymbolReturns, columns: IntArray,
               settings: EngineSettings) -> Components:
    """PnL components of `position` (bars x columns), column j trading market symbol columns[j].
    Costs are computed only where something is traded and funding only at settlement bars."""
    n_bars = position.shape[0]
    zero_row = np.zeros((1, position.shape[1]))

    def before(start: int, stop: int) -> FloatArray:
        """The weights held over the bar before each bar of [start, stop)."""
        return position[start - 1:stop - 1] if start > 0 else np.vstack([zero_row, position[:stop - 1]])

    # work in blocks of bars, so the temporaries of each step stay in the CPU cache
    blocks = [(start, min(start + BLOCK_BARS, n_bars)) for start in range(0, n_bars, BLOCK_BARS)]
    moved = [np.nonzero(position[start:stop] != before(start, stop)) for start, stop in blocks]
    bar = np.concatenate([found[0] + start for found, (start, _) in zip(moved, blocks)]) if blocks else \
        np.zeros(0, dtype=np.int64)
    column = np.concatenate([found[1] for found in moved]) if blocks else np.zeros(0, dtype=np.int64)
    order = np.lexsort((bar, column))
    bar, column = bar[order], column[order]
    previous = np.where(bar > 0, position[np.maximum(bar - 1, 0), column], 0.0)
    traded = np.abs(position[bar, column] - previous)
    symbol = columns[column]
    inputs = CostInputs(*(getattr(market.costs, name)[bar, symbol] for name in CostInputs.__dataclass_fields__))
    legs: LegCosts = leg_costs(traded, inputs, settings.costs, settings.capital_usd)
    leg_cost = legs.fees + legs.spread + legs.impact
    rows = returns.funding_rows if settings.costs.include_funding else np.zeros(0, dtype=np.int64)
    funding = -_held_pnl(position[rows], returns.funding, columns, rows)
    gross = np.empty_like(position)
    net = np.empty_like(position)
    for start, stop in blocks:
        span = slice(start, stop)
        block = _held_pnl(position[span], returns.held, columns, span)
        if settings.execution_mode == "next_open":
            block += _held_pnl(before(start, stop), returns.carried, columns, span)
        gross[span] = block
        first, last = np.searchsorted(rows, [start, stop])
        block[rows[first:last] - start] += funding[first:last]
        in_block = (bar >= start) & (bar < stop)
        block[bar[in_block] - start, column[in_block]] -= leg_cost[in_block]
        net[span] = block
    return Components(position, gross, net, rows, funding, bar, column,
                      {"traded": traded, "fees": legs.fees, "spread": legs.spread, "impact": legs.impact,
                       "expected_slippage": legs.expected_slippage})


def portfolio_net(symbols: Components) -> FloatArray:
    """The book's net PnL per bar: every known component of every symbol (a symbol's move across a
    gap is booked at its next priced bar; an unknown funding rate is not booked), so the portfolio's
    net is always its gross - costs + funding."""
    legs = symbols.legs
    known_costs = sum(np.nan_to_num(legs[name]) for name in ("fees", "spread", "impact"))
    costs = np.bincount(symbols.leg_bar, weights=known_costs, minlength=symbols.position.shape[0])
    return np.nansum(symbols.gross, axis=1) + np.nansum(symbols.funding, axis=1) - costs


class _Path(NamedTuple):
    """One simulation of every strategy under a given set of halts."""

    targets: FloatArray
    capped: CappedTargets
    frozen: FloatArray
    positions: Positions
    strategy_rows: Components
    symbol_rows: Components

    @property
    def portfolio_net(self) -> FloatArray:
        return portfolio_net(self.symbol_rows)


def _breaches(path: _Path, book: StrategyBook, halted_from: IntArray, portfolio_halted: bool,
              switches: KillSwitches) -> list[Halt]:
    """Every live strategy's first breach on `path`, and the portfolio's, earliest first."""
    found: list[Halt] = []
    live = halted_from == NEVER
    rows = path.strategy_rows
    drawdown: Breach = first_drawdown_breach(rows.net, book.weight, switches.strategy_max_drawdown)
    slippage: Breach = first_slippage_breach(rows.leg_column, rows.leg_bar, live.size,
                                             rows.legs["spread"] + rows.legs["impact"], rows.legs["expected_slippage"],
                                             switches.slippage_window_legs, switches.max_slippage_ratio)
    for breach, reason in ((drawdown, "drawdown"), (slippage, "slippage_ratio")):
        for strategy in np.flatnonzero(live & (breach.bar != NO_BREACH)):
            found.append(Halt(int(strategy), int(breach.bar[strategy]), reason, float(breach.value[strategy])))
    if not portfolio_halted:
        portfolio = first_drawdown_breach(path.portfolio_net[:, None], np.ones(1), switches.portfolio_max_drawdown)
        if portfolio.bar[0] != NO_BREACH:
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


def _exact_until(old: _Path, new: _Path, halted_from: IntArray, portfolio_halted: bool,
                 switches: KillSwitches) -> int:
    """The last bar up to which halts found on `old` are still exact once a batch of them is applied
    (giving `new`): before the first position that changed for another reason than a halt of the
    batch (the caps couple strategies), and not after the portfolio's own first breach on `new`."""
    n_bars = old.positions.weights.shape[0]
    explained = np.arange(n_bars)[:, None] > halted_from[None, :]
    changed = (new.positions.weights != old.positions.weights) & ~explained
    rows = np.flatnonzero(changed.any(axis=1))
    until = int(rows[0]) - 1 if rows.size else n_bars - 1
    if not portfolio_halted:
        portfolio = first_drawdown_breach(new.portfolio_net[:, None], np.ones(1), switches.portfolio_max_drawdown)
        if portfolio.bar[0] != NO_BREACH:
            until = min(until, int(portfolio.bar[0]))
    return until


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
    tradable_by_strategy = tradable[:, book.symbol]
    returns = symbol_returns(market, settings.execution_mode)
    onehot = symbol_matrix(book.symbol, n_symbols)
    resume_bars = [resumes.resume_bars(j) for j in range(n_symbols)]
    trades = signal_trades(book, resume_bars)
    passes = 0
    sequential = 0

    def simulate(halted_from: IntArray) -> _Path:
        nonlocal passes, sequential
        passes += 1
        targets = _raw_targets(trades, book, n_bars, halted_from)
        capped = cap_targets(targets, book.symbol, n_symbols, settings.limits)
        frozen = _freeze(capped.weights, tradable_by_strategy)
        positions = limit_new_exposure(frozen, tradable_by_strategy, settings.limits.max_new_exposure_per_bar)
        sequential += positions.sequential_bars
        strategy_rows = components(positions.weights, market, returns, book.symbol, settings)
        symbol_rows = components(positions.weights @ onehot, market, returns, np.arange(n_symbols), settings)
        return _Path(targets, capped, frozen, positions, strategy_rows, symbol_rows)

    # Halts in time order, in batches: every first breach on the current path is applied at once, and
    # those the batch itself could have moved (through the caps, or a portfolio halt before them) are
    # taken back and found again on the next path. A portfolio breach joins a batch only as its
    # earliest member (strategy halts before it change the portfolio's PnL).
    halted_from = np.full(book.symbol.size, NEVER, dtype=np.int64)
    portfolio_halted = False
    halts: list[Halt] = []
    path = simulate(halted_from)
    while True:
        batch = _breaches(path, book, halted_from, portfolio_halted, settings.switches)
        if not batch:
            break
        if batch[0].strategy == PORTFOLIO:
            batch = [halt for halt in batch if halt.bar <= batch[0].bar]
        else:
            batch = [halt for halt in batch if halt.strategy != PORTFOLIO]
        trial_from = _with_halts(halted_from, batch)
        trial = simulate(trial_from)
        until = _exact_until(path, trial, trial_from, portfolio_halted or batch[0].strategy == PORTFOLIO,
                             settings.switches)
        kept = [halt for halt in batch if halt.bar <= until]
        halts.extend(kept)
        portfolio_halted = portfolio_halted or any(halt.strategy == PORTFOLIO for halt in kept)
        halted_from = _with_halts(halted_from, kept)
        path = trial if len(kept) == len(batch) else simulate(halted_from)
    targets, capped, frozen, positions, strategy_rows, symbol_rows = path
    scaled = np.abs(positions.weights) < np.abs(frozen) - 1e-15
    layers = binding_layers(targets, capped, positions.new_exposure_scale, book.symbol, scaled)
    halts.extend(_stale_halts(positions.weights, resumes.gap_bars, book.symbol))
    halts.sort(key=lambda halt: (halt.bar, halt.strategy, halt.reason))
    return BacktestResult(strategy_rows, symbol_rows, layers, halts, sequential, passes)


def _stale_halts(position: FloatArray, gap_bars: IntArray, symbol: IntArray) -> list[Halt]:
    """A stale-feed halt for each strategy holding a position into a resume bar."""
    resume_bar, strategy = np.nonzero((gap_bars[:, symbol] > 0)
                                      & (np.vstack([np.zeros((1, position.shape[1])), position[:-1]]) != 0))
    return [Halt(int(s), int(b), "data_staleness", float(gap_bars[b, symbol[s]])) for b, s in zip(resume_bar, strategy)]


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
    limits = replace(settings.limits, strategy_max_weight=np.inf)

    def simulate(book: FloatArray) -> tuple[CappedTargets, FloatArray, Positions, Components]:
        capped = cap_targets(book, columns, n_symbols, limits)
        frozen = _freeze(capped.weights, tradable)
        positions = limit_new_exposure(frozen, tradable, limits.max_new_exposure_per_bar)
        return capped, frozen, positions, components(positions.weights, market, returns, columns, settings)

    capped, frozen, positions, rows = simulate(wanted)
    halts: list[Halt] = []
    breach = first_drawdown_breach(portfolio_net(rows)[:, None], np.ones(1), switches.portfolio_max_drawdown)
    if breach.bar[0] != NO_BREACH:
        bar = int(breach.bar[0])
        halts.append(Halt(PORTFOLIO, bar, "drawdown", float(breach.value[0])))
        # Nothing before the breach moves, so the breach stays the first one: one more pass is exact.
        wanted = wanted.copy()
        wanted[bar + 1:] = 0.0
        capped, frozen, positions, rows = simulate(wanted)
    # only a symbol that trades at the bar can be cut by the new-exposure layer there (a frozen one
    # may still sit below its target from an earlier cut)
    scaled = (np.abs(positions.weights) < np.abs(frozen) - 1e-15) & tradable
    layers = binding_layers(wanted, capped, positions.new_exposure_scale, columns, scaled)
    halts.extend(_stale_halts(positions.weights, resumes.gap_bars, columns))
    halts.sort(key=lambda halt: (halt.bar, halt.strategy, halt.reason))
    return WeightsResult(rows, wanted, layers, halts, positions.sequential_bars)
