"""Diffusive returns: a market factor and per-symbol returns with the stylised facts of crypto.

Volatility is EGARCH-like (log variance driven by past standardised shocks, plus a slow regime
component), innovations are Student-t, both scaled by intraday/weekly seasonality, with rare
symmetric jumps. Every recursion is a linear filter on pre-drawn shocks (`scipy.signal.lfilter`), so
nothing loops over bars, and every volatility at bar t depends only on shocks before t: the returns
are martingale differences, which is what lets a planted drift be the only predictable part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter
from scipy.special import gammaln

from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import BARS_PER_DAY, Timeline, vol_season
from ingest.demo_market.universe import SymbolSpec


@dataclass(frozen=True)
class DynamicsParams:
    """Volatility and jump parameters (per 5m bar); recorded in ground_truth/config.json."""

    df: float = 4.5
    fast_phi: float = 0.975
    fast_alpha: float = 0.13
    fast_gamma: float = -0.02
    slow_phi: float = 0.9993
    slow_noise: float = 0.035
    slow_alpha: float = 0.004
    idio_phi: float = 0.95
    idio_alpha: float = 0.08
    market_vol_bar: float = 0.0015
    """Mean per-bar volatility of the market factor (~49% annualised, like BTC)."""
    market_jump_per_day: float = 0.25
    market_jump_sigmas: float = 6.0
    idio_jump_per_day: float = 0.15
    idio_jump_sigmas: float = 7.0
    trend_span_bars: int = BARS_PER_DAY


def student_t(rng: np.random.Generator, df: float, n: int) -> np.ndarray:
    """Student-t draws scaled to unit variance (fat tails without changing the vol level)."""
    return np.clip(rng.standard_t(df, n), -12.0, 12.0) * np.sqrt((df - 2.0) / df)


def mean_abs_t(df: float) -> float:
    """E|z| of a unit-variance Student-t: centres the EGARCH news term so it has mean zero."""
    log_e = (np.log(2.0) + 0.5 * np.log(df) + gammaln((df + 1) / 2) - 0.5 * np.log(np.pi)
             - np.log(df - 1.0) - gammaln(df / 2))
    return float(np.exp(log_e) * np.sqrt((df - 2.0) / df))


def egarch(z: np.ndarray, phi: float, alpha: float, gamma: float, e_abs: float,
           noise: np.ndarray | None = None) -> np.ndarray:
    """Log-variance deviation h_t = phi h_{t-1} + alpha(|z_{t-1}| - E|z|) + gamma z_{t-1} (+ noise_t).
    Uses only shocks up to t-1, so vol at t is known before bar t opens."""
    drive = np.zeros_like(z)
    drive[1:] = alpha * (np.abs(z[:-1]) - e_abs) + gamma * z[:-1]
    if noise is not None:
        drive += noise
    return lfilter([1.0], [1.0, -phi], drive)


def ema(x: np.ndarray, span: int) -> np.ndarray:
    a = 2.0 / (span + 1.0)
    return lfilter([a], [1.0, -(1.0 - a)], x)


def jumps(rng: np.random.Generator, n: int, per_day: float, size: np.ndarray) -> np.ndarray:
    """Symmetric compound-Poisson jumps (zero conditional mean), `size` = per-bar scale."""
    hit = rng.random(n) < per_day / BARS_PER_DAY
    signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    mag = 0.5 + np.minimum(rng.exponential(1.0, n), 2.5)
    return np.where(hit, signs * mag * size, 0.0)


@dataclass(frozen=True)
class MarketPath:
    """The common factor: BTC's diffusive return and the volatility everyone shares."""

    sigma: np.ndarray
    """Per-bar volatility of the factor (seasonality included)."""
    ret: np.ndarray
    trend_z: np.ndarray
    """Standardised EMA trend of the factor (used for market-cascade direction)."""


@dataclass(frozen=True)
class SymbolPath:
    """One symbol's returns before cascades, drift and basis."""

    sigma: np.ndarray
    ret: np.ndarray
    trend_z: np.ndarray
    idio_scale: float


def simulate_market(tl: Timeline, seed: int, p: DynamicsParams) -> MarketPath:
    rng = stream(seed, "market-returns")
    n = tl.n
    e_abs = mean_abs_t(p.df)
    z = student_t(rng, p.df, n)
    fast = egarch(z, p.fast_phi, p.fast_alpha, p.fast_gamma, e_abs)
    slow = egarch(z, p.slow_phi, p.slow_alpha, 0.0, e_abs, noise=rng.normal(0.0, p.slow_noise, n))
    h = fast + slow
    level = np.exp(0.5 * h)
    level /= np.sqrt(np.mean(level**2))
    sigma = p.market_vol_bar * level * vol_season(tl)
    # News jumps scale with the geometric mean of current and average vol: big in any regime,
    # but not 20x bigger in a storm.
    jump_size = p.market_jump_sigmas * np.sqrt(sigma * p.market_vol_bar)
    ret = sigma * z + jumps(rng, n, p.market_jump_per_day, jump_size)
    trend = ema(ret, p.trend_span_bars)
    return MarketPath(sigma, ret, trend / trend.std())


def idio_scale(spec: SymbolSpec, jump_share: float = 0.06) -> float:
    """Idiosyncratic vol (in units of market vol) that puts corr(symbol, leader) at the middle of the
    configured range; `jump_share` allows for the correlation lost to idiosyncratic jumps/cascades."""
    if spec.beta == 1.0 and spec.leader_corr == (1.0, 1.0):
        return 0.0
    rho = min(0.98, spec.target_corr + jump_share)
    return spec.beta * float(np.sqrt(1.0 / rho**2 - 1.0))


def simulate_symbol(tl: Timeline, seed: int, index: int, spec: SymbolSpec, market: MarketPath,
                    p: DynamicsParams) -> SymbolPath:
    """beta * factor + idiosyncratic EGARCH noise + idiosyncratic jumps. The leader (index 0) is
    the factor itself."""
    if index == 0:
        return SymbolPath(market.sigma, market.ret, market.trend_z, 0.0)
    rng = stream(seed, "symbol-returns", index)
    n = tl.n
    k = idio_scale(spec)
    z = student_t(rng, p.df, n)
    v = np.exp(0.5 * egarch(z, p.idio_phi, p.idio_alpha, 0.0, mean_abs_t(p.df)))
    v /= np.sqrt(np.mean(v**2))
    idio_sigma = k * market.sigma * v
    ret = spec.beta * market.ret + idio_sigma * z
    sigma = np.sqrt((spec.beta * market.sigma) ** 2 + idio_sigma**2)
    typical = p.market_vol_bar * np.sqrt(spec.beta**2 + k**2)
    ret = ret + jumps(rng, n, p.idio_jump_per_day, p.idio_jump_sigmas * np.sqrt(sigma * typical))
    trend = ema(ret, p.trend_span_bars)
    return SymbolPath(sigma, ret, trend / trend.std(), k)
