"""A deliberately simple reference for the engine's target-weights path
(python_udfs/backtest_engine.py run_target_weights): one bar at a time, one symbol at a time, plain
Python floats, every rule of its docstring written out. Slow by design; the tests compare it with
the engine. Leg costs come from the event path's reference loop (tests/backtest/reference_engine.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from python_udfs.backtest_pnl import EngineSettings, Market
from tests.backtest.reference_engine import _leg, cap_new_exposure


@dataclass
class WeightsReference:
    position: list[list[float]]
    gross: list[list[float]]
    fees: list[list[float]]
    spread: list[list[float]]
    impact: list[list[float]]
    funding: list[list[float]]
    net: list[list[float]]
    portfolio_net: list[float]
    binding_layer: list[list[int]]
    halts: list[tuple[int, int, str]] = field(default_factory=list)


def _price(value: float) -> bool:
    return not math.isnan(value)


def reference_weights(market: Market, targets: np.ndarray, settings: EngineSettings,
                      decided_at: np.ndarray) -> WeightsReference:
    n_bars, n_symbols = market.close.shape
    limits, switches, mode = settings.limits, settings.switches, settings.execution_mode
    grid = lambda: [[0.0] * n_symbols for _ in range(n_bars)]  # noqa: E731
    out = WeightsReference(grid(), grid(), grid(), grid(), grid(), grid(), grid(), [0.0] * n_bars,
                           [[0] * n_symbols for _ in range(n_bars)])
    held = [0.0] * n_symbols
    last_close = [float(x) for x in market.initial_close]
    last_valid = [-1] * n_symbols
    latest_resume = [-1] * n_symbols
    pending, pending_gap = [False] * n_symbols, [0] * n_symbols
    equity, peak, halted_after = 1.0, 1.0, None
    for k in range(n_bars):
        valid = [_price(market.open[k, m]) and _price(market.close[k, m]) for m in range(n_symbols)]
        gap_ending = [0] * n_symbols
        for m in range(n_symbols):
            if mode == "close" and pending[m]:
                latest_resume[m], gap_ending[m], pending[m] = k, pending_gap[m], False
            if valid[m]:
                gap = k - last_valid[m] - 1
                if gap >= switches.max_stale_bars:
                    if mode == "next_open":
                        latest_resume[m], gap_ending[m] = k, gap
                    else:
                        pending[m], pending_gap[m] = True, gap
                last_valid[m] = k
        tradable = [valid[m] if mode == "next_open" else
                    (k > 0 and _price(market.open[k - 1, m]) and _price(market.close[k - 1, m])) for m in range(n_symbols)]
        for m in range(n_symbols):
            if gap_ending[m] and held[m] != 0:
                out.halts.append((m, k, "data_staleness"))
        # the book's targets: dropped if decided before the symbol's stale feed ended, or after a halt
        target = []
        for m in range(n_symbols):
            value = float(targets[k, m])
            if int(decided_at[k]) + 1 < latest_resume[m] or (halted_after is not None and k > halted_after):
                value = 0.0
            target.append(value)
        factor = [[1.0, 1.0, 1.0] for _ in range(n_symbols)]   # symbol, portfolio, new exposure
        capped = list(target)
        for m in range(n_symbols):
            if abs(capped[m]) > limits.symbol_max_net_weight * (1 + 1e-12):
                factor[m][0] = limits.symbol_max_net_weight / abs(capped[m])
                capped[m] *= factor[m][0]
        gross_book = sum(abs(x) for x in capped)
        if gross_book > limits.portfolio_max_gross_weight * (1 + 1e-12):
            for m in range(n_symbols):
                factor[m][1] = limits.portfolio_max_gross_weight / gross_book
                capped[m] *= factor[m][1]
        wanted = [capped[m] if tradable[m] else held[m] for m in range(n_symbols)]
        new, layer4 = cap_new_exposure(held, wanted, tradable, limits.max_new_exposure_per_bar)
        for m in range(n_symbols):
            factor[m][2] = layer4[m]
        for m in range(n_symbols):
            smallest = min(factor[m])
            if smallest < 1 - 1e-12 and target[m] != 0:
                out.binding_layer[k][m] = factor[m].index(smallest) + 2
        book_known = 0.0
        for m in range(n_symbols):
            before, after = held[m], new[m]
            o, c, mark = float(market.open[k, m]), float(market.close[k, m]), last_close[m]
            gross = 0.0
            if mode == "next_open":
                if before != 0:
                    gross += before * (o / mark - 1.0)
                if after != 0:
                    gross += after * (c / o - 1.0)
            elif after != 0:
                gross += after * (c / mark - 1.0)
            fee, spread, impact, _ = _leg(abs(after - before), k, m, market, settings)
            funding = -after * float(market.funding_rate[k, m]) if settings.costs.include_funding and after != 0 else 0.0
            for name, value in (("gross", gross), ("fees", fee), ("spread", spread), ("impact", impact),
                                ("funding", funding), ("net", gross - fee - spread - impact + funding),
                                ("position", after)):
                getattr(out, name)[k][m] = value
            book_known += sum(x for x in (gross, funding) if not math.isnan(x))
            book_known -= sum(x for x in (fee, spread, impact) if not math.isnan(x))
        out.portfolio_net[k] = book_known
        if halted_after is None:
            equity += book_known
            peak = max(peak, equity)
            if (peak - equity) / peak >= switches.portfolio_max_drawdown:
                halted_after = k
                out.halts.append((-1, k, "drawdown"))
        held = new
        for m in range(n_symbols):
            if valid[m]:
                last_close[m] = float(market.close[k, m])
    return out
