"""PnL components of a position matrix: gross, fees, spread, impact, funding, net; computed in full
or updated for changed cells/columns.

Why a module of its own: the engine (python_udfs/backtest_engine.py, whose docstring states the
conventions: marks, gaps, costs, funding) makes positions, caps and halts; this module turns any
weight matrix into its PnL, for strategy columns and symbol columns alike. A pass after new halts
changes few positions, so besides the full computation it remakes only the changed cells or columns,
with the arithmetic of the full pass (the same bits).
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


def _funding(position: FloatArray, returns: SymbolReturns, view: ColumnReturns,
             include: bool) -> tuple[IntArray, FloatArray]:
    """The settlement bars and the funding paid there, -w x rate (NaN when held over an unknown
    rate): funding is non-zero only at settlement bars, so it is kept for those rows only."""
    rows = returns.funding_rows if include else np.zeros(0, dtype=np.int64)
    paid = np.take(returns.funding.values[rows], view.columns, axis=1)
    paid *= position[rows]
    bar, column = view.funding_unknown
    if include and bar.size:
        local = np.searchsorted(rows, bar)
        held = position[bar, column] != 0
        paid[local[held], column[held]] = np.nan
    np.negative(paid, out=paid)
    return rows, paid


def components(position: FloatArray, market: Market, returns: SymbolReturns, view: ColumnReturns,
               settings: EngineSettings, moved: tuple[IntArray, IntArray] | None = None,
               scan: DrawdownScan | None = None) -> Components:
    """PnL components of `position` (bars x columns), column j trading market symbol view.columns[j].
    Costs are computed only where something is traded (`moved`: the cells where the weight changes,
    row-major, when already known) and funding only at settlement bars. Gross and net are made in
    blocks of bars, so the temporaries of each step stay in the CPU cache; `scan` sees each block of
    net PnL while it is there (the drawdown kill switch)."""
    n_bars = position.shape[0]
    bar, column = weight_changes(position) if moved is None else moved
    previous = np.where(bar > 0, position[np.maximum(bar - 1, 0), column], 0.0)
    traded = np.abs(position[bar, column] - previous)
    symbol = view.columns[column]
    inputs = CostInputs(*(getattr(market.costs, name)[bar, symbol] for name in CostInputs.__dataclass_fields__))
    legs: LegCosts = leg_costs(traded, inputs, settings.costs, settings.capital_usd)
    leg_cost = legs.fees + legs.spread + legs.impact
    rows, funding = _funding(position, returns, view, settings.costs.include_funding)
    gross = np.empty(position.shape)
    net = np.empty(position.shape)
    scratch = np.empty((min(BLOCK_BARS, n_bars), position.shape[1]))
    for start in range(0, n_bars, BLOCK_BARS):
        stop = min(start + BLOCK_BARS, n_bars)
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


def changed_cells(old: FloatArray, new: FloatArray) -> IntArray:
    """Flat (row-major) indices of the cells where two weight matrices differ, compared in blocks of
    bars."""
    n_bars, n_columns = new.shape
    found = [np.flatnonzero(old[start:start + BLOCK_BARS] != new[start:start + BLOCK_BARS]) + start * n_columns
             for start in range(0, n_bars, BLOCK_BARS)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def unique_sorted(values: IntArray) -> IntArray:
    """np.unique by sorting: numpy 2's hash-based unique is many times slower on large integer arrays."""
    ordered = np.sort(values)
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def contains(sorted_values: IntArray, values: IntArray) -> BoolArray:
    """np.isin(values, sorted_values) for a sorted, unique `sorted_values`, by binary search."""
    index = np.minimum(np.searchsorted(sorted_values, values), max(sorted_values.size - 1, 0))
    return (sorted_values[index] == values) if sorted_values.size else np.zeros(values.shape, dtype=bool)


def _gross_at(position: FloatArray, bar: IntArray, column: IntArray, returns: SymbolReturns, view: ColumnReturns,
              mode: str) -> FloatArray:
    """_gross_block's arithmetic at single cells (the same operations in the same order, so the same
    bits)."""
    symbol = view.columns[column]
    weight = position[bar, column]
    gross = returns.held.values[bar, symbol] * weight
    unknown = returns.held.unknown[bar, symbol] & (weight != 0)
    if mode == "next_open":
        before = np.where(bar > 0, position[np.maximum(bar - 1, 0), column], 0.0)
        gross += returns.carried.values[bar, symbol] * before
        unknown |= returns.carried.unknown[bar, symbol] & (before != 0)
    gross[unknown] = np.nan
    return gross


def _funding_at(position: FloatArray, bar: IntArray, column: IntArray, returns: SymbolReturns,
                view: ColumnReturns) -> FloatArray:
    """_funding's arithmetic at single cells of settlement bars."""
    symbol = view.columns[column]
    weight = position[bar, column]
    paid = returns.funding.values[bar, symbol] * weight
    paid[returns.funding.unknown[bar, symbol] & (weight != 0)] = np.nan
    return -paid


def update_components(old: Components, position: FloatArray, changed: IntArray, market: Market,
                      returns: SymbolReturns, view: ColumnReturns, settings: EngineSettings) -> Components:
    """The components of `position`, which differs from `old.position` only at the flat cells
    `changed`: a weight enters the PnL and the legs of its own bar and of the next one, and the
    funding of its own bar, so only those cells are recomputed (with the arithmetic of a full pass,
    so the same bits). `old` hands its arrays over: they are edited in place."""
    n_bars, n_columns = position.shape
    reached = unique_sorted(np.concatenate([changed, changed[changed + n_columns < n_bars * n_columns] + n_columns]))
    bar, column = np.divmod(reached, n_columns)
    rows, funding = old.funding_rows, old.funding_values
    local = np.searchsorted(rows, bar)
    settles = local < rows.size
    settles[settles] = rows[local[settles]] == bar[settles]
    funding[local[settles], column[settles]] = _funding_at(position, bar[settles], column[settles], returns, view)
    gross = _gross_at(position, bar, column, returns, view, settings.execution_mode)
    net = gross.copy()
    net[settles] += funding[local[settles], column[settles]]
    previous = np.where(bar > 0, position[np.maximum(bar - 1, 0), column], 0.0)
    is_leg = position[bar, column] != previous
    leg_bar, leg_column = bar[is_leg], column[is_leg]
    traded = np.abs(position[leg_bar, leg_column] - previous[is_leg])
    symbol = view.columns[leg_column]
    inputs = CostInputs(*(getattr(market.costs, name)[leg_bar, symbol] for name in CostInputs.__dataclass_fields__))
    legs: LegCosts = leg_costs(traded, inputs, settings.costs, settings.capital_usd)
    net[is_leg] -= legs.fees + legs.spread + legs.impact
    old.gross[bar, column] = gross
    old.net[bar, column] = net
    kept = ~contains(reached, old.leg_bar * n_columns + old.leg_column)
    new_legs = {"traded": traded, "fees": legs.fees, "spread": legs.spread, "impact": legs.impact,
                "expected_slippage": legs.expected_slippage}
    all_bar = np.concatenate([old.leg_bar[kept], leg_bar])
    all_column = np.concatenate([old.leg_column[kept], leg_column])
    order = np.lexsort((all_bar, all_column))
    merged = {name: np.concatenate([old.legs[name][kept], values])[order] for name, values in new_legs.items()}
    return Components(position, old.gross, old.net, rows, funding, all_bar[order], all_column[order], merged)


def update_columns(old: Components, position: FloatArray, columns: IntArray, market: Market,
                   returns: SymbolReturns, view: ColumnReturns, settings: EngineSettings,
                   scan: DrawdownScan | None = None) -> Components:
    """The components of `position`, which differs from `old.position` only in `columns`: the PnL of
    those columns is made again (in blocks, as `components` does) and written into `old`'s arrays,
    which `old` hands over; `scan` sees the net PnL of those columns only."""
    part = components(np.take(position, columns, axis=1), market, returns,
                      ColumnReturns(view.columns[columns], *_select_columns(view, columns)), settings, scan=scan)
    for start in range(0, position.shape[0], BLOCK_BARS):
        stop = start + BLOCK_BARS
        old.gross[start:stop, columns] = part.gross[start:stop]
        old.net[start:stop, columns] = part.net[start:stop]
    old.funding_values[:, columns] = part.funding_values
    redone = np.zeros(position.shape[1], dtype=bool)
    redone[columns] = True
    kept = ~redone[old.leg_column]
    bar = np.concatenate([old.leg_bar[kept], part.leg_bar])
    column = np.concatenate([old.leg_column[kept], columns[part.leg_column]])
    order = np.lexsort((bar, column))
    legs = {name: np.concatenate([values[kept], part.legs[name]])[order] for name, values in old.legs.items()}
    return Components(position, old.gross, old.net, old.funding_rows, old.funding_values, bar[order], column[order],
                      legs)


def _select_columns(view: ColumnReturns, columns: IntArray) -> tuple[tuple[IntArray, IntArray], ...]:
    """The unknown cells of `view` in the columns `columns`, renumbered 0, 1, ... in that order."""
    local = np.full(view.columns.size, -1, dtype=np.int64)
    local[columns] = np.arange(columns.size)

    def select(cells: tuple[IntArray, IntArray]) -> tuple[IntArray, IntArray]:
        bar, column = cells
        inside = local[column] >= 0
        return bar[inside], local[column[inside]]

    return select(view.held_unknown), select(view.carried_unknown), select(view.funding_unknown)


def portfolio_net(symbols: Components) -> FloatArray:
    """The book's net PnL per bar: every known component of every symbol (a symbol's move across a
    gap is booked at its next priced bar; an unknown funding rate is not booked), so the portfolio's
    net is always its gross - costs + funding."""
    legs = symbols.legs
    n_bars = symbols.position.shape[0]
    known_costs = sum(np.nan_to_num(legs[name]) for name in ("fees", "spread", "impact"))
    costs = np.bincount(symbols.leg_bar, weights=known_costs, minlength=n_bars)
    funding = np.zeros(n_bars)
    funding[symbols.funding_rows] = np.nansum(symbols.funding_values, axis=1)
    return np.nansum(symbols.gross, axis=1) + funding - costs
