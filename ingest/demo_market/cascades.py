"""Liquidation cascades: open interest builds in trends, then flushes in one bar with a jump, a
volume spike, a vol burst and liquidations.

Hazard and direction depend only on the past (OI level and trend up to t-1), and the expected jump
is subtracted from every bar's return as a compensator, so cascades add fat tails without adding a
predictable drift that would contaminate the planted effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ingest.demo_market.dynamics import MarketPath, SymbolPath
from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BARS_PER_DAY, Timeline

WARMUP_BARS = 2 * BARS_PER_DAY


@dataclass(frozen=True)
class CascadeParams:
    idio_per_30d: float = 4.0
    market_per_30d: float = 1.0
    refractory_bars: int = BARS_PER_DAY
    hazard_oi_beta: float = 0.9
    """Hazard multiplier exp(beta * standardised OI): crowded positioning flushes more often."""
    p_down_trend: float = 0.25
    """P(down) = 0.5 + this * tanh(trend): the crowded side of a trend gets liquidated."""
    severity_a: float = 1.3
    severity_b: float = 2.5
    jump_sigmas_min: float = 6.0
    jump_sigmas_span: float = 12.0
    oi_flush_min: float = 0.03
    oi_flush_span: float = 0.12
    vol_boost: float = 0.5
    vol_boost_phi: float = 0.985
    volume_boost_min: float = 3.0
    volume_boost_span: float = 8.0
    volume_boost_phi: float = 0.7
    basis_shock_bps: float = 6.0
    basis_shock_phi: float = 0.95

    @property
    def mean_severity(self) -> float:
        return self.severity_a / (self.severity_a + self.severity_b)

    @property
    def mean_jump_sigmas(self) -> float:
        return self.jump_sigmas_min + self.jump_sigmas_span * self.mean_severity


@dataclass(frozen=True)
class MarketCascades:
    """Market-wide flushes (hit every symbol on the same bar, scaled by beta)."""

    bars: np.ndarray
    direction: np.ndarray
    severity: np.ndarray
    hazard: np.ndarray
    """Effective per-bar hazard known at t-1 (zero in refractory periods and maintenance)."""
    p_down: np.ndarray


@dataclass(frozen=True)
class Cascades:
    """One symbol's accepted cascades and their imprint on each bar."""

    bars: np.ndarray
    direction: np.ndarray
    severity: np.ndarray
    market_wide: np.ndarray
    jump: np.ndarray
    compensator: np.ndarray
    log_vol_boost: np.ndarray
    volume_mult: np.ndarray
    oi_flush: np.ndarray
    basis_shock: np.ndarray


def _refractory(bars: np.ndarray, n: int, length: int) -> np.ndarray:
    """True on the `length - 1` bars after each accepted cascade."""
    mark = np.zeros(n + 1, dtype=np.int64)
    np.add.at(mark, np.minimum(bars + 1, n), 1)
    np.add.at(mark, np.minimum(bars + length, n), -1)
    return np.cumsum(mark[:n]) > 0


def _accept(candidates: np.ndarray, length: int) -> np.ndarray:
    """Greedy in time: keep a candidate only if `length` bars passed since the last kept one.
    Loops over candidate events (a few dozen), not bars."""
    kept: list[int] = []
    for t in candidates.tolist():
        if not kept or t - kept[-1] >= length:
            kept.append(t)
    return np.asarray(kept, dtype=np.int64)


def _p_down(trend_z: np.ndarray, p: CascadeParams) -> np.ndarray:
    lagged = np.r_[0.0, trend_z[:-1]]
    return 0.5 + p.p_down_trend * np.tanh(lagged)


def draw_market_cascades(tl: Timeline, seed: int, market: MarketPath, blocked: np.ndarray,
                         p: CascadeParams) -> MarketCascades:
    rng = stream(seed, "market-cascades")
    n = tl.n
    base = p.market_per_30d / (30 * BARS_PER_DAY)
    u, v = rng.random(n), rng.random(n)
    severity = rng.beta(p.severity_a, p.severity_b, n)
    allowed = ~blocked
    allowed[:WARMUP_BARS] = False
    bars = _accept(np.flatnonzero((u < base) & allowed), p.refractory_bars)
    p_down = _p_down(market.trend_z, p)
    hazard = base * allowed * ~_refractory(bars, n, p.refractory_bars)
    direction = np.where(v[bars] < p_down[bars], -1.0, 1.0)
    return MarketCascades(bars, direction, severity[bars], hazard, p_down)


def symbol_cascades(tl: Timeline, seed: int, index: int, beta: float, path: SymbolPath, oi_z: np.ndarray,
                    market: MarketPath, market_cascades: MarketCascades, blocked: np.ndarray,
                    p: CascadeParams) -> Cascades:
    """Accept idiosyncratic and market-wide cascades for one symbol and turn them into per-bar jump,
    compensator, vol boost, volume multiplier, OI flush and basis shock series."""
    rng = stream(seed, "symbol-cascades", index)
    n = tl.n
    base = p.idio_per_30d / (30 * BARS_PER_DAY)
    lagged_oi = np.r_[0.0, oi_z[:-1]]
    hazard = base * np.exp(p.hazard_oi_beta * lagged_oi - 0.5 * p.hazard_oi_beta**2)
    hazard = np.minimum(hazard, 0.05)
    u, v = rng.random(n), rng.random(n)
    severity = rng.beta(p.severity_a, p.severity_b, n)
    size_noise = np.exp(rng.normal(-0.02, 0.2, n))
    allowed = ~blocked
    allowed[:WARMUP_BARS] = False
    allowed[-1] = False
    idio = np.flatnonzero((u < hazard) & allowed)
    market_bars = market_cascades.bars[allowed[market_cascades.bars]]
    candidates = np.unique(np.r_[idio, market_bars])
    bars = _accept(candidates, p.refractory_bars)
    is_market = np.isin(bars, market_cascades.bars)

    p_down = _p_down(path.trend_z, p)
    direction = np.where(v[bars] < p_down[bars], -1.0, 1.0)
    sev = severity[bars].copy()
    jump_abs = path.sigma[bars] * (p.jump_sigmas_min + p.jump_sigmas_span * sev)
    if is_market.any():
        where = np.searchsorted(market_cascades.bars, bars[is_market])
        direction[is_market] = market_cascades.direction[where]
        sev[is_market] = market_cascades.severity[where]
        mb = bars[is_market]
        jump_abs[is_market] = (beta * market.sigma[mb] * (p.jump_sigmas_min + p.jump_sigmas_span * sev[is_market])
                               * size_noise[mb])
    jump = np.zeros(n)
    jump[bars] = direction * jump_abs

    # Compensator: E[jump at t | info up to t-1], removed from every bar so returns stay unpredictable.
    open_for = ~_refractory(bars, n, p.refractory_bars)
    idio_mean = hazard * allowed * path.sigma * p.mean_jump_sigmas * (1.0 - 2.0 * p_down)
    mkt_mean = (market_cascades.hazard * beta * market.sigma * p.mean_jump_sigmas
                * (1.0 - 2.0 * market_cascades.p_down))
    compensator = open_for * (idio_mean + mkt_mean)

    impulse = np.zeros(n)
    impulse[bars] = p.vol_boost * (0.5 + sev)
    shifted = np.r_[0.0, impulse[:-1]]
    log_vol_boost = lfilter([1.0], [1.0, -p.vol_boost_phi], shifted)

    vol_imp = np.zeros(n)
    vol_imp[bars] = p.volume_boost_min + p.volume_boost_span * sev
    volume_mult = 1.0 + lfilter([1.0], [1.0, -p.volume_boost_phi], vol_imp)

    oi_flush = np.zeros(n)
    oi_flush[bars] = p.oi_flush_min + p.oi_flush_span * sev

    shock = np.zeros(n)
    shock[bars] = direction * p.basis_shock_bps * 1e-4 * (0.5 + sev)
    basis_shock = lfilter([1.0], [1.0, -p.basis_shock_phi], shock)
    return Cascades(bars, direction, sev, is_market, jump, compensator, log_vol_boost, volume_mult,
                    oi_flush, basis_shock)
