"""A deliberately simple reference for the backtest engine: one bar at a time, one strategy at a time,
plain Python floats, every rule of python_udfs/backtest_engine.py's docstring written out as it would
be in a first textbook implementation. Slow by design; the tests compare it with the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from python_udfs.backtest_engine import StrategyBook
from python_udfs.backtest_pnl import EngineSettings, Market


@dataclass
class Reference:
    position: list[list[float]]
    gross: list[list[float]]
    fees: list[list[float]]
    spread: list[list[float]]
    impact: list[list[float]]
    funding: list[list[float]]
    net: list[list[float]]
    symbol_net: list[list[float]]
    binding_layer: list[list[int]]
    halts: list[tuple[int, int, str]] = field(default_factory=list)


def _is_price(value: float) -> bool:
    return not math.isnan(value)


def _leg(traded: float, bar: int, symbol: int, market: Market, settings: EngineSettings) -> tuple[float, float, float, float]:
    """fees, spread, impact, expected slippage of trading `traded` into bar `bar`."""
    if traded == 0:
        return 0.0, 0.0, 0.0, 0.0
    costs = settings.costs
    inputs = market.costs
    half_spread = float(inputs.half_spread_bps[bar, symbol]) if costs.pays_spread else 0.0
    mean_volume = float(inputs.mean_quote_volume[bar, symbol])
    last_volume = float(inputs.last_quote_volume[bar, symbol])
    mean_volume = mean_volume if mean_volume > 0 else math.nan
    last_volume = last_volume if last_volume > 0 else math.nan
    notional = traded * settings.capital_usd
    impact_bps = (costs.volatility_coefficient * float(inputs.volatility_bps[bar, symbol])
                  + costs.impact_coefficient_bps * math.sqrt(notional / mean_volume) if _is_price(mean_volume) else math.nan)
    impact_bps = impact_bps + costs.participation_coefficient_bps * notional / last_volume
    expected_bps = half_spread + costs.impact_coefficient_bps * math.sqrt(costs.order_notional_usd / mean_volume) \
        if _is_price(mean_volume) else math.nan
    return (traded * costs.fee_bps / 1e4, traded * half_spread / 1e4, traded * impact_bps / 1e4,
            traded * expected_bps / 1e4)


def cap_new_exposure(held: list[float], wanted: list[float], tradable: list[bool],
                     limit: float) -> tuple[list[float], list[float]]:
    """Layer 4, position by position: the increase in |position| (all of it on a flip) of tradable
    positions, scaled down together when the bar's total exceeds `limit`. Returns the new
    positions and each one's layer-4 factor (the scale where it cut the position by more than float
    noise, else 1.0: a held 0.12 that the layers above recompute as 0.12 + 1e-17 is not cut by it)."""
    increase = []
    for h, w, t in zip(held, wanted, tradable):
        same = h == 0 or (w > 0) == (h > 0) or w == 0
        increase.append(0.0 if not t else max(abs(w) - abs(h), 0.0) if same else abs(w))
    total = sum(increase)
    scale = 1.0 if total <= limit * (1 + 1e-12) else limit / total
    new, factors = [], []
    for h, w, more in zip(held, wanted, increase):
        if more > 0:
            same = h == 0 or (w > 0) == (h > 0)
            new.append((h if same else 0.0) + math.copysign(1.0, w) * scale * more)
        else:
            new.append(w)
        factors.append(scale if more > 0 and abs(new[-1]) < abs(w) - 1e-15 else 1.0)
    return new, factors


def reference_backtest(market: Market, book: StrategyBook, settings: EngineSettings) -> Reference:
    n_bars, n_symbols = market.close.shape
    n_strategies = book.symbol.size
    limits, switches = settings.limits, settings.switches
    mode = settings.execution_mode
    out = Reference(*[[[0.0] * n_strategies for _ in range(n_bars)] for _ in range(7)],
                    symbol_net=[[0.0] * n_symbols for _ in range(n_bars)],
                    binding_layer=[[0] * n_strategies for _ in range(n_bars)])
    held = [0.0] * n_strategies
    symbol_held = [0.0] * n_symbols
    last_close = [float(x) for x in market.initial_close]
    last_valid_bar = [-1] * n_symbols
    latest_resume = [-1] * n_symbols
    pending_resume = [False] * n_symbols  # close mode: resume at the bar after the first priced one
    pending_gap = [0] * n_symbols
    halted_after: list[int | None] = [None] * n_strategies
    equity = [float(w) for w in book.weight]
    peak = list(equity)
    book_equity, book_peak, book_halted = 1.0, 1.0, False
    legs: list[list[tuple[float, float]]] = [[] for _ in range(n_strategies)]
    last_signal = [-1] * n_strategies
    signal_seen = [[-1] * n_strategies for _ in range(n_bars)]
    for k in range(n_bars):
        for s in range(n_strategies):
            if book.signal[k, s] != 0:
                last_signal[s] = k
            signal_seen[k][s] = last_signal[s]
    for k in range(n_bars):
        valid = [_is_price(market.open[k, m]) and _is_price(market.close[k, m]) for m in range(n_symbols)]
        gap_ending = [0] * n_symbols
        for m in range(n_symbols):
            if mode == "close":
                if pending_resume[m]:
                    latest_resume[m] = k
                    gap_ending[m] = pending_gap[m]
                    pending_resume[m] = False
            if valid[m]:
                gap = k - last_valid_bar[m] - 1
                if gap >= switches.max_stale_bars:
                    if mode == "next_open":
                        latest_resume[m] = k
                        gap_ending[m] = gap
                    else:
                        pending_resume[m], pending_gap[m] = True, gap
                last_valid_bar[m] = k
        tradable = [valid[m] if mode == "next_open" else (k > 0 and _is_price(market.open[k - 1, m])
                                                            and _is_price(market.close[k - 1, m]))
                    for m in range(n_symbols)]
        for s in range(n_strategies):
            if gap_ending[book.symbol[s]] and held[s] != 0:
                out.halts.append((s, k, "data_staleness"))
        # targets of this bar
        target = [0.0] * n_strategies
        for s in range(n_strategies):
            lag, horizon = int(book.entry_lag[s]), int(book.horizon[s])
            if k - lag < 0 or (halted_after[s] is not None and k > halted_after[s]):
                continue
            u = signal_seen[k - lag][s]
            if u < 0:
                continue
            entry = u + lag
            if k < entry + horizon and entry >= latest_resume[book.symbol[s]]:
                target[s] = float(book.signal[u, s]) * float(book.weight[s])
        # layer 1
        factor = [[1.0] * 4 for _ in range(n_strategies)]
        for s in range(n_strategies):
            if abs(book.weight[s]) > limits.strategy_max_weight:
                factor[s][0] = limits.strategy_max_weight / abs(book.weight[s])
        capped = [target[s] * factor[s][0] for s in range(n_strategies)]
        # layer 2
        for m in range(n_symbols):
            net = sum(capped[s] for s in range(n_strategies) if book.symbol[s] == m)
            if abs(net) > limits.symbol_max_net_weight * (1 + 1e-12):
                for s in range(n_strategies):
                    if book.symbol[s] == m:
                        factor[s][1] = limits.symbol_max_net_weight / abs(net)
                        capped[s] *= factor[s][1]
        # layer 3
        gross = sum(abs(sum(capped[s] for s in range(n_strategies) if book.symbol[s] == m)) for m in range(n_symbols))
        if gross > limits.portfolio_max_gross_weight * (1 + 1e-12):
            for s in range(n_strategies):
                factor[s][2] = limits.portfolio_max_gross_weight / gross
                capped[s] *= factor[s][2]
        # frozen symbols keep their positions
        wanted = [capped[s] if tradable[book.symbol[s]] else held[s] for s in range(n_strategies)]
        # layer 4
        new, layer4 = cap_new_exposure(held, wanted, [tradable[book.symbol[s]] for s in range(n_strategies)],
                                       limits.max_new_exposure_per_bar)
        for s in range(n_strategies):
            factor[s][3] = layer4[s]
        for s in range(n_strategies):
            smallest = min(factor[s])
            if smallest < 1 - 1e-12 and target[s] != 0:
                out.binding_layer[k][s] = factor[s].index(smallest) + 1
        # PnL of each strategy and each symbol
        def pnl(before: float, after: float, m: int) -> tuple[float, ...]:
            o, c, mark = float(market.open[k, m]), float(market.close[k, m]), last_close[m]
            gross_pnl = 0.0
            if mode == "next_open":
                if before != 0:
                    gross_pnl += before * (o / mark - 1.0)
                if after != 0:
                    gross_pnl += after * (c / o - 1.0)
            elif after != 0:
                gross_pnl += after * (c / mark - 1.0)
            fee, spread, impact, expected = _leg(abs(after - before), k, m, market, settings)
            funding = 0.0
            if settings.costs.include_funding and after != 0:
                funding = -after * float(market.funding_rate[k, m])
            return gross_pnl, fee, spread, impact, funding, gross_pnl - fee - spread - impact + funding, expected
        for s in range(n_strategies):
            values = pnl(held[s], new[s], book.symbol[s])
            for name, value in zip(("gross", "fees", "spread", "impact", "funding", "net"), values):
                getattr(out, name)[k][s] = value
            out.position[k][s] = new[s]
            if abs(new[s] - held[s]) > 0:
                legs[s].append((values[2] + values[3], values[6]))
        symbol_new = [sum(new[s] for s in range(n_strategies) if book.symbol[s] == m) for m in range(n_symbols)]
        book_known = 0.0   # the book books every known component (an unknown funding rate is left out)
        for m in range(n_symbols):
            values = pnl(symbol_held[m], symbol_new[m], m)
            out.symbol_net[k][m] = values[5]
            gross_m, fee_m, spread_m, impact_m, funding_m = values[:5]
            book_known += sum(x for x in (gross_m, funding_m) if not math.isnan(x))
            book_known -= sum(x for x in (fee_m, spread_m, impact_m) if not math.isnan(x))
        # kill switches at this bar's close
        for s in range(n_strategies):
            if halted_after[s] is not None:
                continue
            if not math.isnan(out.net[k][s]):
                equity[s] += out.net[k][s]
            peak[s] = max(peak[s], equity[s])
            drawdown = (peak[s] - equity[s]) / peak[s] if peak[s] > 0 else math.inf
            window = legs[s][-switches.slippage_window_legs:]
            ratio = math.nan
            if len(window) == switches.slippage_window_legs and not any(math.isnan(a) or math.isnan(b) for a, b in window):
                paid, wanted_cost = sum(a for a, _ in window), sum(b for _, b in window)
                ratio = paid / wanted_cost if wanted_cost > 0 else math.inf
            if drawdown >= switches.strategy_max_drawdown:
                halted_after[s] = k
                out.halts.append((s, k, "drawdown"))
            elif abs(new[s] - held[s]) > 0 and ratio > switches.max_slippage_ratio:
                halted_after[s] = k
                out.halts.append((s, k, "slippage_ratio"))
        if not book_halted:
            book_equity += book_known
            book_peak = max(book_peak, book_equity)
            if (book_peak - book_equity) / book_peak >= switches.portfolio_max_drawdown:
                book_halted = True
                out.halts.append((-1, k, "drawdown"))
                for s in range(n_strategies):
                    halted_after[s] = k if halted_after[s] is None else min(halted_after[s], k)
        held = new
        symbol_held = symbol_new
        for m in range(n_symbols):
            if _is_price(market.close[k, m]) and _is_price(market.open[k, m]):
                last_close[m] = float(market.close[k, m])
    return out


def as_array(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64)
