"""Perp premium over the index (basis), index and mark prices, and the funding it drives.

The basis mean-reverts (OU, ~2h half-life) around a level that rises in up-trends (longs pay up)
and drops after a long-liquidation cascade; funding is Binance's formula on the interval's average
premium, so its sign follows the basis most of the time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ingest.demo_market.cascades import Cascades
from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BAR_MS, Timeline

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class BasisParams:
    mean_bps: float = 2.0
    trend_up_bps: float = 9.0
    trend_down_bps: float = 5.0
    ou_half_life_bars: int = 24
    ou_sd_bps: float = 2.5
    noise_bps: float = 0.8
    index_noise_bps: float = 0.4
    mark_span_bars: int = 6
    interest_8h: float = 0.0001
    clamp_8h: float = 0.0005
    cap_8h: float = 0.003


@dataclass(frozen=True)
class BasisPath:
    premium: np.ndarray
    """Perp premium over the index per bar (fraction, e.g. 0.0002 = 2 bps)."""
    index_log: np.ndarray
    """Log index minus log spot (multi-venue index noise)."""
    mark_premium: np.ndarray
    """Smoothed premium used for the mark price."""


def basis_path(seed: int, index: int, trend_z: np.ndarray, cascades: Cascades, p: BasisParams) -> BasisPath:
    rng = stream(seed, "basis", index)
    n = trend_z.size
    phi = 0.5 ** (1.0 / p.ou_half_life_bars)
    ou = lfilter([1.0], [1.0, -phi], rng.normal(0.0, p.ou_sd_bps * np.sqrt(1 - phi**2), n))
    lean = np.tanh(trend_z)
    level = p.mean_bps + p.trend_up_bps * np.maximum(lean, 0.0) + p.trend_down_bps * np.minimum(lean, 0.0)
    premium = (level + ou + rng.normal(0.0, p.noise_bps, n)) * 1e-4 + cascades.basis_shock
    idx_phi = 0.5
    index_log = lfilter([1.0], [1.0, -idx_phi], rng.normal(0.0, p.index_noise_bps * 1e-4 * np.sqrt(1 - idx_phi**2), n))
    a = 2.0 / (p.mark_span_bars + 1.0)
    mark_premium = lfilter([a], [1.0, -(1.0 - a)], premium, zi=[(1.0 - a) * premium[0]])[0]
    return BasisPath(premium, index_log, mark_premium)


@dataclass(frozen=True)
class FundingSwitch:
    """One symbol moves from 8h to a shorter funding interval at `at_ms` (as Binance did in 2024-25)."""

    symbol: str
    at_ms: int
    hours_before: int = 8
    hours_after: int = 4


@dataclass(frozen=True)
class Funding:
    settle_ms: np.ndarray
    calc_ms: np.ndarray
    """Settlement time plus a few ms of jitter, as in the archive's `calc_time`."""
    interval_h: np.ndarray
    rate: np.ndarray
    bar: np.ndarray
    """Bar whose open time is the settlement: the first bar by whose close the rate is known."""

    @property
    def rate_8h(self) -> np.ndarray:
        return self.rate * 8.0 / self.interval_h


def settlement_times(tl: Timeline, switch_ms: int | None, before_h: int = 8, after_h: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Settlement epochs on the 8h grid (00/08/16 UTC), then on the shorter grid after a switch."""
    start, end = int(tl.open_ms[0]), int(tl.open_ms[-1]) + BAR_MS
    step8 = before_h * HOUR_MS
    first = -(-start // step8) * step8
    grid8 = np.arange(first, end, step8, dtype=np.int64)
    if switch_ms is None:
        return grid8, np.full(grid8.size, before_h, dtype=np.int64)
    step_after = after_h * HOUR_MS
    early = grid8[grid8 <= switch_ms]
    late = np.arange(switch_ms + step_after, end, step_after, dtype=np.int64)
    return (np.r_[early, late].astype(np.int64),
            np.r_[np.full(early.size, before_h), np.full(late.size, after_h)].astype(np.int64))


def funding(tl: Timeline, seed: int, index: int, premium: np.ndarray, switch_ms: int | None,
            p: BasisParams) -> Funding:
    """Rate = (P + clamp(I - P, -c, c)) * h/8 with P the mean premium of the interval's bars."""
    rng = stream(seed, "funding", index)
    settle, hours = settlement_times(tl, switch_ms)
    bar = (settle - tl.start_ms) // BAR_MS
    csum = np.r_[0.0, np.cumsum(premium)]
    hi = np.maximum(bar, 1)
    lo = np.clip(bar - hours * (HOUR_MS // BAR_MS), 0, hi - 1)
    mean_premium = (csum[hi] - csum[lo]) / (hi - lo)
    scale = hours / 8.0
    rate = mean_premium + np.clip(p.interest_8h - mean_premium, -p.clamp_8h, p.clamp_8h)
    rate = np.clip(rate, -p.cap_8h, p.cap_8h) * scale
    rate = np.round(rate, 8)
    jitter = rng.integers(0, 9, settle.size)
    return Funding(settle, settle + jitter, hours, rate, bar)
