"""Open interest and long/short ratios (the `metrics` archive): OI builds while a trend persists and
is flushed by cascades; retail accounts lean long after dips; the taker ratio comes from the bars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BARS_PER_DAY


@dataclass(frozen=True)
class PositioningParams:
    oi_half_life_bars: int = 3 * BARS_PER_DAY
    oi_trend_sd: float = 0.13
    """Standard deviation of log OI explained by trend strength."""
    oi_noise_bar: float = 0.0012
    ratio_half_life_bars: int = BARS_PER_DAY
    global_ratio_sd: float = 0.15
    global_ratio_trend: float = -0.2
    top_position_sd: float = 0.08
    top_position_trend: float = 0.12


def _phi(half_life: int) -> float:
    return float(0.5 ** (1.0 / half_life))


def ar1(drive: np.ndarray, phi: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], drive)


@dataclass(frozen=True)
class OpenInterestBase:
    log_oi: np.ndarray
    """Log OI deviation before cascades (trend-driven build-up plus noise)."""
    z: np.ndarray
    """`log_oi` standardised: drives the cascade hazard."""


def open_interest_base(seed: int, index: int, trend_z: np.ndarray, p: PositioningParams) -> OpenInterestBase:
    rng = stream(seed, "open-interest", index)
    phi = _phi(p.oi_half_life_bars)
    strength = np.abs(trend_z)
    build = ar1(strength - strength.mean(), phi)
    build *= p.oi_trend_sd / build.std()
    noise = ar1(rng.normal(0.0, p.oi_noise_bar, trend_z.size), phi)
    log_oi = build + noise
    return OpenInterestBase(log_oi, log_oi / log_oi.std())


def open_interest(base: OpenInterestBase, oi_flush: np.ndarray, p: PositioningParams) -> np.ndarray:
    """Log OI deviation after cascades: each flush drops OI at once, then it rebuilds slowly."""
    return base.log_oi - ar1(oi_flush, _phi(p.oi_half_life_bars))


@dataclass(frozen=True)
class Ratios:
    count_long_short: np.ndarray
    """Global accounts long/short."""
    count_toptrader: np.ndarray
    sum_toptrader: np.ndarray


def long_short_ratios(seed: int, index: int, trend_z: np.ndarray, leader: bool, p: PositioningParams) -> Ratios:
    rng = stream(seed, "long-short", index)
    n = trend_z.size
    phi = _phi(p.ratio_half_life_bars)
    scale = np.sqrt(1.0 - phi**2)
    g = ar1(rng.normal(0.0, p.global_ratio_sd * scale, n), phi)
    own = ar1(rng.normal(0.0, 0.06 * scale, n), phi)
    pos = ar1(rng.normal(0.0, p.top_position_sd * scale, n), phi)
    lean = np.tanh(trend_z)
    mu_global, mu_top, mu_pos = (np.log(1.25), np.log(1.1), np.log(1.05)) if leader else \
        (np.log(2.1), np.log(1.6), np.log(1.2))
    return Ratios(
        count_long_short=np.exp(mu_global + g + p.global_ratio_trend * lean),
        count_toptrader=np.exp(mu_top + 0.6 * g + own),
        sum_toptrader=np.exp(mu_pos + pos + p.top_position_trend * lean),
    )
