"""Backtest summaries: one row per strategy, per symbol and for the portfolio, from fct_backtest_pnl.

Why here and not in SQL: Sortino, drawdown durations, PSR and DSR need the whole ordered series and
scipy. The PnL table is sparse (a strategy has rows only where it holds or trades), so each series is
laid on the window's bar grid first: a missing bar is flat (zero, known); a NULL net stays unknown.

Trades are runs of bars with a non-zero position of one sign; a trade's return is the sum of its
net PnL from the entry bar through the bar that closes it (the exit's costs and, in next_open mode,
the move into the exit's open belong to the trade).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from python_udfs.performance_metrics import BARS_PER_YEAR_5M, BarSeries, Trades, performance_summary
from python_udfs.sharpe import sharpe_stats

FloatArray = npt.NDArray[np.float64]
SERIES = ("net", "gross", "fees", "spread", "impact", "funding", "position", "traded")


def _micros(values: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    return values.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)


def trades_of(position: FloatArray, net: FloatArray) -> Trades:
    """Runs of same-signed non-zero positions, with the net PnL from entry through the closing bar."""
    sign = np.sign(position)
    previous = np.concatenate([[0.0], sign[:-1]])
    starts = np.flatnonzero((sign != 0) & (sign != previous))
    if starts.size == 0:
        return Trades.empty()
    following = np.concatenate([sign[1:], [0.0]])
    ends = np.flatnonzero((sign != 0) & (sign != following))
    known = np.nan_to_num(net, nan=0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(known)])
    # The bar after the last held bar closes the trade (its exit costs) when it is flat; a bar that
    # flips the side belongs to the next trade, and a trade still open at the end stops there.
    closing = ends.copy()
    after = ends + 1
    closable = after < position.size
    closable[closable] &= sign[after[closable]] == 0
    closing[closable] = after[closable]
    returns = cumulative[closing + 1] - cumulative[starts]
    return Trades(returns, (ends - starts + 1).astype(np.int64))


def _series(table: pa.Table, grid: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
    rows = np.searchsorted(grid, _micros(table.column("ts")))
    out = {}
    for name in SERIES:
        values = np.zeros(grid.size)
        column = table.column(name)
        values[rows] = column.to_numpy(zero_copy_only=False).astype(np.float64) if column.null_count == 0 else \
            np.where(column.is_null().to_numpy(zero_copy_only=False), np.nan,
                     column.fill_null(0.0).to_numpy(zero_copy_only=False))
        out[name] = values
    return out


def _summary_row(series: dict[str, FloatArray], n_trials: int, var_trial_sharpe: float,
                 bars_per_year: float) -> dict[str, Any]:
    bars = BarSeries(series["net"], series["gross"], series["fees"], series["spread"], series["impact"],
                     series["funding"], np.abs(series["position"]), series["traded"], bars_per_year)
    return performance_summary(bars, trades_of(series["position"], series["net"]), n_trials, var_trial_sharpe)


def summary_table(pnl: pa.Table, n_trials: int, var_trial_sharpe: float | None = None,
                  bars_per_year: float = BARS_PER_YEAR_5M) -> pa.Table:
    """One row per (level, strategy_id, symbol). DSR uses the run's trial count and the variance of
    the trials' per-trade Sharpe ratios (the phase 2 hypotheses', as the bridge does); without
    them (None), the variance of the backtested strategies' per-trade Sharpe ratios."""
    portfolio = pnl.filter(pc.equal(pnl.column("level"), "portfolio"))
    grid = np.unique(_micros(portfolio.column("ts")))
    # one pass to group the rows by (level, strategy_id, symbol), not one scan of the table per key
    labels = pc.binary_join_element_wise(pnl.column("level"), pnl.column("strategy_id").fill_null(""),
                                         pnl.column("symbol").fill_null(""), "|").to_numpy(zero_copy_only=False)
    names, group = np.unique(labels, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(names.size + 1))
    series_by_key = {}
    for index, name in enumerate(names):
        level, strategy, symbol = str(name).split("|")
        rows = pnl.take(pa.array(order[bounds[index]:bounds[index + 1]]))
        series_by_key[(level, strategy or None, symbol or None)] = _series(rows, grid)
    if var_trial_sharpe is None:
        strategy_sharpes = [sharpe_stats(trades_of(series["position"], series["net"]).net_return).sr
                            for key, series in series_by_key.items() if key[0] == "strategy"]
        finite = np.asarray([s for s in strategy_sharpes if np.isfinite(s)])
        var_trial_sharpe = float(finite.var(ddof=1)) if finite.size > 1 else float("nan")
    rows = []
    for key, series in series_by_key.items():
        metrics = _summary_row(series, n_trials, var_trial_sharpe, bars_per_year)
        rows.append({"level": key[0], "strategy_id": key[1], "symbol": key[2], **metrics,
                     "n_trials": n_trials, "var_trial_sharpe": var_trial_sharpe})
    if not rows:
        return summary_schema().empty_table()
    return pa.Table.from_pylist(rows, schema=summary_schema())


def summary_schema() -> pa.Schema:
    """The columns of fct_backtest_summary (also when the backtest has no rows)."""
    empty = BarSeries(*(np.zeros(0) for _ in range(8)))
    metrics = performance_summary(empty, Trades.empty(), 1, float("nan"))
    fields = [("level", pa.string()), ("strategy_id", pa.string()), ("symbol", pa.string())]
    fields += [(name, pa.int64() if isinstance(value, int) else pa.float64()) for name, value in metrics.items()]
    fields += [("n_trials", pa.int64()), ("var_trial_sharpe", pa.float64())]
    return pa.schema(fields)
