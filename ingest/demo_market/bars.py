"""OHLC candles from a close path, and their rounding to the exchange's price grid.

Open is the previous close (as on Binance), wicks are drawn once per symbol so spot, perp, index and
mark share their intrabar excursions, and rounding keeps low <= open, close <= high exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.demo_market.streams import stream


@dataclass(frozen=True)
class Wicks:
    up: np.ndarray
    down: np.ndarray


def draw_wicks(seed: int, index: int, sigma: np.ndarray, jump: np.ndarray, scale: float = 0.45) -> Wicks:
    """Excursions beyond open/close in log units; a cascade bar overshoots in its direction."""
    rng = stream(seed, "wicks", index)
    n = sigma.size
    up = scale * sigma * rng.exponential(1.0, n)
    down = scale * sigma * rng.exponential(1.0, n)
    overshoot = 0.3 * np.abs(jump) * rng.random(n)
    up = up + np.where(jump > 0, overshoot, 0.0)
    down = down + np.where(jump < 0, overshoot, 0.0)
    return Wicks(up, down)


@dataclass(frozen=True)
class LogCandles:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def candles(close: np.ndarray, first_open: float, wicks: Wicks, wick_scale: float = 1.0) -> LogCandles:
    open_ = np.r_[first_open, close[:-1]]
    high = np.maximum(open_, close) + wick_scale * wicks.up
    low = np.minimum(open_, close) - wick_scale * wicks.down
    return LogCandles(open_, high, low, close)


@dataclass(frozen=True)
class TickCandles:
    """Prices as integer multiples of 10**-decimals (exact decimal strings later)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    decimals: int

    def vwap(self, weight: np.ndarray) -> np.ndarray:
        """A traded average price inside [low, high] (weight in [0, 1]), in price units."""
        lo, hi = self.low.astype(np.float64), self.high.astype(np.float64)
        return (lo + (hi - lo) * weight) / 10.0**self.decimals


def to_ticks(c: LogCandles, decimals: int) -> TickCandles:
    scale = 10.0**decimals
    close = np.maximum(np.rint(np.exp(c.close) * scale), 1).astype(np.int64)
    open_ = np.maximum(np.rint(np.exp(c.open) * scale), 1).astype(np.int64)
    high = np.maximum(np.ceil(np.exp(c.high) * scale).astype(np.int64), np.maximum(open_, close))
    low = np.minimum(np.floor(np.exp(c.low) * scale).astype(np.int64), np.minimum(open_, close))
    return TickCandles(open_, high, np.maximum(low, 1), close, decimals)


def premium_candles(premium: np.ndarray, seed: int, index: int, scale: int = 8) -> TickCandles:
    """Premium-index klines: values are fractions (e.g. -0.00012345) stored at 8 decimals."""
    rng = stream(seed, "premium-wicks", index)
    n = premium.size
    close = premium
    open_ = np.r_[premium[0], premium[:-1]]
    high = np.maximum(open_, close) + np.abs(rng.normal(0.0, 0.6e-4, n))
    low = np.minimum(open_, close) - np.abs(rng.normal(0.0, 0.6e-4, n))
    f = 10.0**scale
    return TickCandles(np.rint(open_ * f).astype(np.int64), np.ceil(high * f).astype(np.int64),
                       np.floor(low * f).astype(np.int64), np.rint(close * f).astype(np.int64), scale)
