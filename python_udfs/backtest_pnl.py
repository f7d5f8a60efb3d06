"""PnL components of a position matrix: gross, fees, spread, impact, funding, net; computed for
every bar or for a span of bars (the engine's chunks).

Why a module of its own: the engine (python_udfs/backtest_engine.py, whose docstring states the
conventions: marks, gaps, costs, funding) makes positions, caps and halts; this module turns any
weight matrix into its PnL, for strategy columns and symbol columns alike. The engine solves its
halts chunk by chunk of bars, so the PnL of a span is made from the positions held before it,
with the arithmetic of a whole pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from python_udfs.backtest_config import KillSwitches, RiskLimits
from python_udfs.cost_model import CostConfig
from python_udfs.execution_costs import CostInputs, LegCosts, leg_costs
from python_udfs.kill_switches import BLOCK_BARS, DrawdownScan, FalseRuns, false_runs
from python_udfs.risk_allocator import weight_changes

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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
class EngineSettings:
    execution_mode: str
    capital_usd: float
    limits: RiskLimits
    switches: KillSwitches
    costs: CostConfig


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


def cells_by_column(bar: IntArray, symbol: IntArray, symbol_of: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Cells (bar, symbol) of a (bars x symbols) matrix repeated for every column trading the
    symbol (column j trades symbol_of[j]): their bar, column and the index of the symbol cell, in
    row-major order. Gaps are few, so the column-wise rules on them stay sparse."""
    by_symbol = np.argsort(symbol, kind="stable")
    counts = np.bincount(symbol, minlength=int(symbol_of.max(initial=-1)) + 1)
    first = np.cumsum(counts) - counts
    per_column = counts[symbol_of] if counts.size else np.zeros(symbol_of.size, dtype=np.int64)
    column = np.repeat(np.arange(symbol_of.size), per_column)
    offset = np.arange(column.size) - np.repeat(np.cumsum(per_column) - per_column, per_column)
    index = by_symbol[first[symbol_of[column]] + offset] if column.size else np.zeros(0, dtype=np.int64)
    out_bar = bar[index]
    order = np.lexsort((column, out_bar))
    return out_bar[order], column[order], index[order]


def run_cells(runs: FalseRuns) -> tuple[IntArray, IntArray, IntArray]:
    """Every cell of every run: its bar, column and the bar before its run (-1: none)."""
    length = runs.last - runs.first + 1
    run = np.repeat(np.arange(length.size), length)
    bar = np.arange(run.size) - np.repeat(np.cumsum(length) - length, length) + runs.first[run]
    return bar, runs.column[run], runs.first[run] - 1


def _marks(market: Market) -> FloatArray:
    """The last known close before each bar (the price a position was last marked at). Gaps are
    few: only their cells look back."""
    close = market.close
    n_bars = close.shape[0]
    mark = np.empty_like(close)
    if n_bars == 0:
        return mark
    mark[0] = market.initial_close
    mark[1:] = close[:-1]
    bar, column, source = run_cells(false_runs(np.isfinite(close)))
    inside = bar + 1 < n_bars
    bar, column, source = bar[inside], column[inside], source[inside]
    mark[bar + 1, column] = np.where(source >= 0, close[np.maximum(source, 0), column], market.initial_close[column])
    return mark


class KnownReturns(NamedTuple):
    """A (bars x symbols) return matrix with its unknown cells set to 0 and listed apart (and as a
    mask, for looking up single cells)."""

    values: FloatArray
    unknown_bar: IntArray
    unknown_symbol: IntArray
    unknown: BoolArray


def known_returns(values: FloatArray, owned: bool = False) -> KnownReturns:
    """`owned`: `values` is the caller's scratch, so its unknown cells are zeroed in place."""
    unknown = np.isnan(values)
    bar, symbol = np.divmod(np.flatnonzero(unknown), max(values.shape[1], 1))
    known = values if owned else values.copy()
    known[bar, symbol] = 0.0
    return KnownReturns(known, bar, symbol, unknown)


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
    funding = known_returns(market.funding_rate)
    n_symbols = max(market.close.shape[1], 1)
    settles = np.zeros(market.close.shape[0], dtype=bool)
    settles[np.flatnonzero(funding.values != 0) // n_symbols] = True
    settles[funding.unknown_bar] = True
    funding_rows = np.flatnonzero(settles)
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "next_open":
            carried, held = np.divide(market.open, _marks(market)), np.divide(market.close, market.open)
            carried -= 1.0
        else:
            carried, held = np.zeros_like(market.close), np.divide(market.close, _marks(market))
        held -= 1.0
    return SymbolReturns(known_returns(carried, owned=True), known_returns(held, owned=True), funding, funding_rows)


class ColumnReturns(NamedTuple):
    """SymbolReturns as columns see them (column j trades symbol `columns[j]`): the unknown cells of
    each return matrix repeated for every column of their symbol, as (bar, column) in row-major
    order, found once per run rather than once per block and pass."""

    columns: IntArray
    held_unknown: tuple[IntArray, IntArray]
    carried_unknown: tuple[IntArray, IntArray]
    funding_unknown: tuple[IntArray, IntArray]


def column_returns(returns: SymbolReturns, columns: IntArray) -> ColumnReturns:
    def expand(ret: KnownReturns) -> tuple[IntArray, IntArray]:
        bar, column, _ = cells_by_column(ret.unknown_bar, ret.unknown_symbol, columns)
        return bar, column

    return ColumnReturns(columns, expand(returns.held), expand(returns.carried), expand(returns.funding))


def _mark_unknown(pnl: FloatArray, weight: FloatArray, cells: tuple[IntArray, IntArray], first: int,
                  lag: int = 0) -> None:
    """NaN where a weight is held over an unknown return (the rows of `pnl` are bars first, first + 1,
    ...; the weight is the one of the bar `lag` bars before). Unknown returns are zero in the return
    matrices, so a flat column earns 0 there whatever the return."""
    bar, column = cells
    lo, hi = np.searchsorted(bar, [first, first + pnl.shape[0]])
    bar, column = bar[lo:hi], column[lo:hi]
    held = np.where(bar >= lag, weight[np.maximum(bar - lag, 0), column], 0.0) != 0
    pnl[bar[held] - first, column[held]] = np.nan


def _gross_block(out: FloatArray, scratch: FloatArray, position: FloatArray, returns: SymbolReturns,
                 view: ColumnReturns, mode: str, start: int) -> None:
    """Gross PnL of the bars start, start + 1, ... (one row of `out` each): w[k] x held return, plus
    (next_open) w[k-1] x the carried return (made in `scratch`, same shape); NaN where a held weight
    meets an unknown return (a NaN term makes the sum NaN, so the unknown cells of both terms are
    marked once, after the sum)."""
    stop = start + out.shape[0]
    np.take(returns.held.values[start:stop], view.columns, axis=1, out=out, mode="clip")
    out *= position[start:stop]
    if mode == "next_open":
        carried = np.take(returns.carried.values[start:stop], view.columns, axis=1, out=scratch, mode="clip")
        if start > 0:
            carried *= position[start - 1:stop - 1]
        else:
            carried[1:] *= position[:stop - 1]
            carried[:1] *= 0.0
        out += carried
        _mark_unknown(out, position, view.carried_unknown, start, lag=1)
    _mark_unknown(out, position, view.held_unknown, start)


def _funding(position: FloatArray, returns: SymbolReturns, view: ColumnReturns, include: bool,
             span: tuple[int, int]) -> tuple[IntArray, FloatArray]:
    """The settlement bars in `span` and the funding paid there, -w x rate (NaN when held over an
    unknown rate): funding is non-zero only at settlement bars, so it is kept for those rows only."""
    rows = returns.funding_rows if include else np.zeros(0, dtype=np.int64)
    rows = rows[slice(*np.searchsorted(rows, span))]
    paid = np.take(returns.funding.values[rows], view.columns, axis=1)
    paid *= position[rows]
    bar, column = view.funding_unknown
    lo, hi = np.searchsorted(bar, span)
    bar, column = bar[lo:hi], column[lo:hi]
    if include and bar.size:
        local = np.searchsorted(rows, bar)
        held = position[bar, column] != 0
        paid[local[held], column[held]] = np.nan
    np.negative(paid, out=paid)
    return rows, paid


def components(position: FloatArray, market: Market, returns: SymbolReturns, view: ColumnReturns,
               settings: EngineSettings, moved: tuple[IntArray, IntArray] | None = None,
               scan: DrawdownScan | None = None, span: tuple[int, int] | None = None,
               out: tuple[FloatArray, FloatArray] | None = None) -> Components:
    """PnL components of `position` (bars x columns), column j trading market symbol view.columns[j].
    Costs are computed only where something is traded (`moved`: the cells where the weight changes,
    row-major, when already known) and funding only at settlement bars. Gross and net are made in
    blocks of bars, so the temporaries of each step stay in the CPU cache; `scan` sees each block of
    net PnL while it is there (the drawdown kill switch).

    `span` = (first, stop): only the bars [first, stop) are made (the engine's chunks; the rows
    before `first` are the positions held before), written into `out` = (gross, net), full-size
    arrays; `moved` must then be given. The legs and funding rows returned are those of the span."""
    n_bars = position.shape[0]
    first_bar, stop_bar = (0, n_bars) if span is None else span
    bar, column = weight_changes(position) if moved is None else moved
    previous = np.where(bar > 0, position[np.maximum(bar - 1, 0), column], 0.0)
    traded = np.abs(position[bar, column] - previous)
    symbol = view.columns[column]
    inputs = CostInputs(*(getattr(market.costs, name)[bar, symbol] for name in CostInputs.__dataclass_fields__))
    legs: LegCosts = leg_costs(traded, inputs, settings.costs, settings.capital_usd)
    leg_cost = legs.fees + legs.spread + legs.impact
    rows, funding = _funding(position, returns, view, settings.costs.include_funding, (first_bar, stop_bar))
    gross, net = (np.empty(position.shape), np.empty(position.shape)) if out is None else out
    scratch = np.empty((min(BLOCK_BARS, stop_bar - first_bar), position.shape[1]))
    for start in range(first_bar, stop_bar, BLOCK_BARS):
        stop = min(start + BLOCK_BARS, stop_bar)
        _gross_block(gross[start:stop], scratch[:stop - start], position, returns, view, settings.execution_mode,
                     start)
        block = net[start:stop]
        np.copyto(block, gross[start:stop])
        first, last = np.searchsorted(rows, [start, stop])
        block[rows[first:last] - start] += funding[first:last]
        lo, hi = np.searchsorted(bar, [start, stop])
        block[bar[lo:hi] - start, column[lo:hi]] -= leg_cost[lo:hi]
        if scan is not None:
            scan.feed(net, start, stop)
    order = np.lexsort((bar, column))
    return Components(position, gross, net, rows, funding, bar[order], column[order],
                      {"traded": traded[order], "fees": legs.fees[order], "spread": legs.spread[order],
                       "impact": legs.impact[order], "expected_slippage": legs.expected_slippage[order]})


def unique_sorted(values: IntArray) -> IntArray:
    """np.unique by sorting: numpy 2's hash-based unique is many times slower on large integer arrays."""
    ordered = np.sort(values)
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def portfolio_net(symbols: Components, span: tuple[int, int] | None = None) -> FloatArray:
    """The book's net PnL per bar: every known component of every symbol (a symbol's move across a
    gap is booked at its next priced bar; an unknown funding rate is not booked), so the portfolio's
    net is always its gross - costs + funding. `span`: only the bars [first, stop) (the legs and
    funding of `symbols` are those of the span)."""
    legs = symbols.legs
    first, stop = (0, symbols.position.shape[0]) if span is None else span
    known_costs = sum(np.nan_to_num(legs[name]) for name in ("fees", "spread", "impact"))
    costs = np.bincount(symbols.leg_bar - first, weights=known_costs, minlength=stop - first)
    funding = np.zeros(stop - first)
    funding[symbols.funding_rows - first] = np.nansum(symbols.funding_values, axis=1)
    return np.nansum(symbols.gross[first:stop], axis=1) + funding - costs
