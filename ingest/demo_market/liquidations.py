"""Forced orders for the `liquidationSnapshot` archive: a burst inside each cascade bar whose size
is a share of the OI that vanished, plus a few small ones the same day, priced along the bar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.demo_market.bars import LogCandles
from ingest.demo_market.cascades import Cascades
from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BAR_MS, BARS_PER_DAY


@dataclass(frozen=True)
class LiquidationPlan:
    """One row per forced order (before Binance's row doubling), sorted by time."""

    bar: np.ndarray
    offset_ms: np.ndarray
    qty: np.ndarray
    side: np.ndarray
    """-1: a long is liquidated (SELL order), +1: a short (BUY order)."""
    path_frac: np.ndarray
    """Where in the bar's move the order fills: 0 = open, 1 = the bar's extreme (cascades)."""
    in_cascade: np.ndarray

    def qty_per_bar(self, n: int) -> np.ndarray:
        out = np.zeros(n)
        np.add.at(out, self.bar, self.qty)
        return out


def plan_liquidations(seed: int, index: int, cascades: Cascades, oi_units: np.ndarray, gap: np.ndarray,
                      liquidated_share: tuple[float, float] = (0.35, 0.3)) -> LiquidationPlan:
    rng = stream(seed, "liquidations", index)
    n = oi_units.size
    parts: list[tuple[np.ndarray, ...]] = []
    for bar, direction, sev in zip(cascades.bars.tolist(), cascades.direction.tolist(), cascades.severity.tolist()):
        dropped = max(oi_units[bar - 1] - oi_units[bar], 0.0)
        total = (liquidated_share[0] + liquidated_share[1] * rng.random()) * dropped
        k = 8 + int(rng.poisson(50 * (0.3 + sev)))
        weights = rng.lognormal(0.0, 1.0, k)
        qty = total * weights / weights.sum()
        offsets = np.sort(rng.integers(0, BAR_MS, k))
        frac = np.sort(rng.random(k)) ** 0.6
        parts.append((np.full(k, bar), offsets, qty, np.full(k, int(direction)), frac, np.ones(k, bool)))
        # A few small forced orders elsewhere in the same day (not cascades: no OI flush).
        day0 = (bar // BARS_PER_DAY) * BARS_PER_DAY
        day_bars = np.arange(day0, min(day0 + BARS_PER_DAY, n))
        day_bars = day_bars[~gap[day_bars] & (day_bars != bar)]
        m = int(rng.integers(4, 16))
        if day_bars.size and m:
            bars = np.sort(rng.choice(day_bars, size=m))
            small = oi_units[bars] * rng.uniform(2e-5, 2e-4, m)
            sides = np.where(rng.random(m) < 0.5, -1, 1)
            parts.append((bars, rng.integers(0, BAR_MS, m), small, sides, rng.random(m), np.zeros(m, bool)))
    if not parts:
        empty = np.zeros(0)
        return LiquidationPlan(empty.astype(np.int64), empty.astype(np.int64), empty, empty.astype(np.int64),
                               empty, empty.astype(bool))
    cols = [np.concatenate(c) for c in zip(*parts)]
    order = np.lexsort((cols[1], cols[0]))
    return LiquidationPlan(*(c[order] for c in cols))


@dataclass(frozen=True)
class LiquidationRows:
    time_ms: np.ndarray
    side: np.ndarray
    qty_units: np.ndarray
    price_units: np.ndarray
    avg_units: np.ndarray
    bar: np.ndarray


def liquidation_rows(plan: LiquidationPlan, perp: LogCandles, start_ms: int, price_decimals: int,
                     qty_decimals: int) -> LiquidationRows:
    """Fill prices along each bar's path (open -> extreme for cascades, open -> close otherwise);
    the order price is the bankruptcy-side limit 0.3% beyond the fill."""
    b = plan.bar
    extreme = np.where(plan.side < 0, perp.low[b], perp.high[b])
    target = np.where(plan.in_cascade, extreme, perp.close[b])
    log_fill = perp.open[b] + (target - perp.open[b]) * plan.path_frac
    log_fill = np.clip(log_fill, perp.low[b], perp.high[b])
    scale = 10.0**price_decimals
    avg = np.rint(np.exp(log_fill) * scale).astype(np.int64)
    price = np.rint(np.exp(log_fill) * (1.0 + 0.003 * plan.side) * scale).astype(np.int64)
    qty = np.maximum(np.rint(plan.qty * 10.0**qty_decimals), 1).astype(np.int64)
    time_ms = start_ms + b * BAR_MS + plan.offset_ms
    return LiquidationRows(time_ms, plan.side, qty, price, avg, b)
