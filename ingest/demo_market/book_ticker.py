"""Best bid/ask updates for the `bookTicker` archive on the sampled days, consistent with the perp
bars: the mid walks from each bar's open to its close inside [low, high], the spread is a tick or
a few."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.demo_market.bars import LogCandles
from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BAR_MS, BARS_PER_DAY

MEAN_GAP_MS = 5_000


@dataclass(frozen=True)
class BookRows:
    update_id: np.ndarray
    bid_units: np.ndarray
    bid_qty_units: np.ndarray
    ask_units: np.ndarray
    ask_qty_units: np.ndarray
    transaction_ms: np.ndarray
    event_ms: np.ndarray


def book_day(seed: int, symbol_index: int, day_index: int, first_bar: int, start_ms: int, perp: LogCandles,
             gap: np.ndarray, price_decimals: int, qty_decimals: int, typical_qty: float) -> BookRows:
    rng = stream(seed, "book-ticker", symbol_index, day_index)
    n_upd = int(rng.poisson(BARS_PER_DAY * BAR_MS / MEAN_GAP_MS))
    offsets = np.sort(rng.integers(0, BARS_PER_DAY * BAR_MS, n_upd))
    bar = first_bar + offsets // BAR_MS
    keep = ~gap[bar]
    offsets, bar = offsets[keep], bar[keep]
    frac = (offsets % BAR_MS) / BAR_MS
    bridge = 0.35 * (perp.high[bar] - perp.low[bar]) * np.sqrt(frac * (1 - frac)) * rng.normal(0.0, 1.0, bar.size)
    mid = perp.open[bar] + (perp.close[bar] - perp.open[bar]) * frac + bridge
    mid = np.clip(mid, perp.low[bar], perp.high[bar])
    scale = 10.0**price_decimals
    spread = 1 + (rng.random(bar.size) < 0.15) * rng.integers(1, 4, bar.size)
    bid = np.floor(np.exp(mid) * scale).astype(np.int64)
    ask = bid + spread
    qscale = 10.0**qty_decimals
    bid_qty = np.maximum(np.rint(typical_qty * rng.lognormal(0.0, 1.0, bar.size) * qscale), 1).astype(np.int64)
    ask_qty = np.maximum(np.rint(typical_qty * rng.lognormal(0.0, 1.0, bar.size) * qscale), 1).astype(np.int64)
    tx = start_ms + first_bar * BAR_MS + offsets
    event = tx + rng.integers(0, 6, bar.size)
    first_id = 4_000_000_000_000 + 50_000_000 * (day_index + 1) + 1_000_000 * symbol_index
    update_id = first_id + np.cumsum(rng.integers(1, 40, bar.size))
    return BookRows(update_id, bid, bid_qty, ask, ask_qty, tx, event)
