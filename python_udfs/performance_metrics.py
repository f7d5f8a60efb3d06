"""Performance summary of a backtest's per-bar PnL: returns, risk, drawdown, costs, PSR / DSR.

Why one place: every report and gate must read the same Sharpe, drawdown and cost share; a second
implementation with a different convention (compounding, ddof, the drawdown base) would make two
numbers for one strategy that silently disagree.

Conventions (mix them up and the numbers are silently wrong):
- PnL is in units of a fixed capital (a constant-notional book, no compounding): a bar's net of
  0.001 is +0.1% of capital. Equity is E_t = 1 + cumulative known net, not a product.
- A bar whose net is NaN is unknown (a data gap while a position was held). It is left out of
  every moment and of the cost / funding shares, equity carries its last value over it, and it is
  counted in `n_unknown_bars`. Time still passes: it counts in `n_bars` and in drawdown durations.
- The starting capital (E = 1 before the first bar) is a peak: a loss on the first bar is a
  drawdown.
- Ratios that are undefined (no known bar, zero variance, no negative bar, no trade, a zero
  denominator) are NaN, never inf and never an exception.
- `psr` / `dsr` come from `python_udfs.sharpe` on the per-bar Sharpe ratio; annualised figures
  scale per-bar ones by `bars_per_year` (mean) or its square root (Sharpe, Sortino, volatility).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from python_udfs.sharpe import deflated_sharpe_ratio, probabilistic_sharpe_ratio, sharpe_stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BARS_PER_YEAR_5M = 365.0 * 288.0
"""5-minute bars in a 365-day year: crypto trades around the clock."""

NAN = float("nan")


def _as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True)
class BarSeries:
    """Per-bar PnL columns of one strategy (or symbol, or portfolio), all of length T.

    net = gross - fees - spread - impact + funding; costs are positive, funding is signed
    (positive = received). exposure is the gross absolute position held during the bar and
    turnover the absolute notional traded at the bar, both as fractions of capital and known on
    every bar (including the ones whose net is unknown).
    """

    net: FloatArray
    gross: FloatArray
    fees: FloatArray
    spread: FloatArray
    impact: FloatArray
    funding: FloatArray
    exposure: FloatArray
    turnover: FloatArray
    bars_per_year: float = field(default=BARS_PER_YEAR_5M)

    def __post_init__(self) -> None:
        lengths = set()
        for column in fields(self):
            if column.name == "bars_per_year":
                continue
            array = _as_float_array(getattr(self, column.name), column.name)
            object.__setattr__(self, column.name, array)
            lengths.add(array.size)
        if len(lengths) > 1:
            raise ValueError(f"BarSeries columns differ in length: {sorted(lengths)}")
        if not (math.isfinite(self.bars_per_year) and self.bars_per_year > 0):
            raise ValueError(f"bars_per_year must be a positive number, got {self.bars_per_year}")

    @property
    def known(self) -> npt.NDArray[np.bool_]:
        """Bars whose net PnL is known (not NaN)."""
        return ~np.isnan(self.net)


@dataclass(frozen=True)
class Trades:
    """Completed round trips: net return as a fraction of capital and bars held. May be empty."""

    net_return: FloatArray
    holding_bars: IntArray

    def __post_init__(self) -> None:
        net_return = _as_float_array(self.net_return, "net_return")
        holding = np.asarray(self.holding_bars, dtype=np.int64)
        if holding.ndim != 1 or holding.size != net_return.size:
            raise ValueError(
                f"holding_bars must be one-dimensional with {net_return.size} values, got shape {holding.shape}"
            )
        object.__setattr__(self, "net_return", net_return)
        object.__setattr__(self, "holding_bars", holding)

    @classmethod
    def empty(cls) -> Trades:
        """No completed trade (a strategy that never closed a position)."""
        return cls(np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64))


def drawdown_curve(net: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Equity E_t = 1 + cumulative known net (a NaN bar carries the last value) and the drawdown
    (peak_t - E_t) / peak_t per bar, peak_t the running maximum of E including the starting 1.

    Including the starting capital keeps peak_t >= 1, so the drawdown is always defined (it can
    exceed 1 if a fixed-notional book loses more than its capital).
    """
    r = _as_float_array(net, "net")
    equity = 1.0 + np.cumsum(np.where(np.isnan(r), 0.0, r))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return equity, (peak - equity) / peak


def max_drawdown_duration(equity: FloatArray) -> int:
    """Longest drawdown in bars: from the last bar at a peak (the start, before bar 0, counts as
    one) to the first bar whose equity is back at >= that peak, or to the last bar if it never is.

    A recovered spell of k underwater bars lasts k + 1 (its recovering bar included); a spell
    still open at the end lasts k, the bars elapsed so far.
    """
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    underwater = np.concatenate(([False], equity < peak, [False])).astype(np.int8)
    edges = np.diff(underwater)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # one past the last underwater bar
    if starts.size == 0:
        return 0
    durations = ends - starts + (ends < equity.size)
    return int(durations.max())


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is zero or not finite."""
    if denominator == 0.0 or not math.isfinite(denominator):
        return NAN
    return float(numerator / denominator)


def performance_summary(
    bars: BarSeries, trades: Trades, n_trials: int, var_trial_sharpe: float
) -> dict[str, float | int]:
    """Summary metrics of one PnL series; keys, in order:

    - n_bars: bars in the series (T); n_unknown_bars: bars whose net is NaN;
      n_active_bars: bars with exposure > 0.
    - total_return: sum of known net (fraction of capital; 0 with no known bar).
    - annualised_return: mean known net per bar * bars_per_year.
    - annualised_volatility: std (ddof=1) of known net * sqrt(bars_per_year).
    - sharpe_ratio: sharpe_per_bar * sqrt(bars_per_year).
    - sortino_ratio: mean / sqrt(mean(min(r, 0)^2)) * sqrt(bars_per_year), the mean of squares over
      all known bars (target 0); NaN when no known bar is negative.
    - max_drawdown: max_t (peak_t - E_t) / peak_t of `drawdown_curve`, a positive fraction of the
      peak equity; NaN with no known bar (an unobserved book is not a safe one).
    - max_drawdown_duration_bars: see `max_drawdown_duration` (unknown bars count as time).
    - turnover_annualised: sum(turnover) / n_bars * bars_per_year.
    - average_exposure: mean exposure over all bars.
    - hit_rate: share of trades with net_return > 0 (a flat trade is not a hit); NaN with no trade.
    - n_trades; average_holding_bars: mean holding_bars, NaN with no trade.
    - cost_share_of_gross: sum(fees + spread + impact) / sum(|gross|) over known bars.
    - funding_share_of_gross: sum(funding) / sum(|gross|) over known bars, signed (+ = received).
    - psr: probabilistic Sharpe ratio of sharpe_per_bar against 0, with the skew and non-excess
      kurtosis of the known per-bar net (`sharpe.sharpe_stats`).
    - dsr: deflated Sharpe ratio of the per-trade Sharpe ratio (trades' net returns, their skew and
      kurtosis, n_obs = n_trades) over `n_trials` whose per-trade Sharpe ratios have variance
      `var_trial_sharpe`. Per trade, not per bar, because the trials (phase 2 hypotheses) are
      measured per event: SR and V must share a frequency, and a sparse strategy's per-bar Sharpe
      is not comparable with a per-event one. NaN with fewer than 2 trades.
    - sharpe_per_bar: mean / std (ddof=1) of known net; NaN for fewer than 2 known bars or zero
      variance.
    - sharpe_per_trade: mean / std (ddof=1) of the trades' net returns (what dsr deflates).
    """
    known = bars.known
    r = bars.net[known]
    n_bars = int(bars.net.size)
    n_known = int(r.size)
    annualiser = math.sqrt(bars.bars_per_year)

    moments = sharpe_stats(r)
    mean = float(r.mean()) if n_known else NAN
    volatility = float(r.std(ddof=1)) * annualiser if n_known > 1 else NAN
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) if n_known else NAN

    equity, drawdown = drawdown_curve(bars.net)
    abs_gross = float(np.abs(bars.gross[known]).sum())
    costs = float((bars.fees[known] + bars.spread[known] + bars.impact[known]).sum())
    n_trades = int(trades.net_return.size)

    psr = probabilistic_sharpe_ratio(moments.sr, moments.n_obs, moments.skew, moments.kurtosis)
    per_trade = sharpe_stats(trades.net_return)
    dsr = deflated_sharpe_ratio(
        per_trade.sr, per_trade.n_obs, n_trials, var_trial_sharpe, per_trade.skew, per_trade.kurtosis
    )
    return {
        "n_bars": n_bars,
        "n_unknown_bars": n_bars - n_known,
        "n_active_bars": int(np.count_nonzero(bars.exposure > 0)),
        "total_return": float(r.sum()),
        "annualised_return": mean * bars.bars_per_year,
        "annualised_volatility": volatility,
        "sharpe_ratio": moments.sr * annualiser,
        "sortino_ratio": _ratio(mean, downside) * annualiser,
        "max_drawdown": float(drawdown.max()) if n_known else NAN,
        "max_drawdown_duration_bars": max_drawdown_duration(equity),
        "turnover_annualised": _ratio(float(bars.turnover.sum()), n_bars) * bars.bars_per_year,
        "average_exposure": float(bars.exposure.mean()) if n_bars else NAN,
        "hit_rate": float(np.mean(trades.net_return > 0)) if n_trades else NAN,
        "n_trades": n_trades,
        "average_holding_bars": float(trades.holding_bars.mean()) if n_trades else NAN,
        "cost_share_of_gross": _ratio(costs, abs_gross),
        "funding_share_of_gross": _ratio(float(bars.funding[known].sum()), abs_gross),
        "psr": float(psr),
        "dsr": float(dsr),
        "sharpe_per_bar": moments.sr,
        "sharpe_per_trade": per_trade.sr,
    }
