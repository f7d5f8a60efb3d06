"""Point-in-time features of one symbol and the condition/state masks the effects are written in.

Every feature at bar t uses only data known by the close of bar t (trailing windows, the OI and
liquidations of bar t, the funding rate settled at the bar's open), so an occurrence at t can be
detected live and traded from the next bar."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from ingest.demo_market.effects import Condition
from ingest.demo_market.timeline import BARS_PER_DAY

WARMUP_BARS = 2 * BARS_PER_DAY
SHORT_VOL_BARS = BARS_PER_DAY
LONG_VOL_BARS = 30 * BARS_PER_DAY


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of x[t-window+1 .. t] (fewer at the start)."""
    csum = np.r_[0.0, np.cumsum(x)]
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def lag(x: np.ndarray, fill: float) -> np.ndarray:
    return np.r_[fill, x[:-1]]


def trailing_max(x: np.ndarray, window: int) -> np.ndarray:
    return maximum_filter1d(x, window, origin=(window - 1) // 2, mode="nearest")


def trailing_min(x: np.ndarray, window: int) -> np.ndarray:
    return minimum_filter1d(x, window, origin=(window - 1) // 2, mode="nearest")


@dataclass
class Features:
    """Bar-aligned inputs of the conditions for one symbol (perp market)."""

    close: np.ndarray
    high: np.ndarray
    low: np.ndarray
    volume: np.ndarray
    taker_ratio: np.ndarray
    oi_change: np.ndarray
    liq_usd: np.ndarray
    ls_ratio: np.ndarray
    funding_rate_8h: np.ndarray
    hour: np.ndarray
    minute: np.ndarray
    weekday: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def ret(self) -> np.ndarray:
        if "ret" not in self._cache:
            self._cache["ret"] = np.diff(self.close, prepend=self.close[0])
        return self._cache["ret"]

    def realised_vol(self, window: int) -> np.ndarray:
        key = ("rv", window)
        if key not in self._cache:
            self._cache[key] = np.sqrt(trailing_mean(self.ret**2, window))
        return self._cache[key]

    def volume_ratio(self, window: int) -> np.ndarray:
        """Volume of bar t over the mean of the `window` bars before it."""
        key = ("vr", window)
        if key not in self._cache:
            self._cache[key] = self.volume / lag(trailing_mean(self.volume, window), np.inf)
        return self._cache[key]

    @property
    def vol_high(self) -> np.ndarray:
        """State: one-day realised vol at or above the 30-day one."""
        return self.realised_vol(SHORT_VOL_BARS) >= self.realised_vol(LONG_VOL_BARS)


def condition_mask(cond: Condition, f: Features) -> np.ndarray:
    kind = cond.kind
    if kind == "volume_spike_return":
        window = cond.get("lookback_bars")
        sigma_prev = np.maximum(lag(f.realised_vol(window), np.inf), 1e-12)
        z = f.ret / sigma_prev
        threshold = cond.get("return_sigma")
        moved = z <= threshold if threshold < 0 else z >= threshold
        return moved & (f.volume_ratio(window) >= cond.get("volume_ratio"))
    if kind == "funding_extreme":
        rate = f.funding_rate_8h
        known = ~np.isnan(rate)
        safe = np.where(known, rate, 0.0)
        if cond.get("above") is not None:
            return known & (safe >= cond.get("above"))
        return known & (safe <= cond.get("below"))
    if kind == "oi_flush":
        drop = np.log1p(-cond.get("oi_drop_pct") / 100.0)
        mask = (f.oi_change <= drop) & (f.liq_usd > cond.get("min_liquidation_usd"))
        direction = cond.get("direction")
        if direction == "down":
            mask &= f.ret < 0
        elif direction == "up":
            mask &= f.ret > 0
        return mask
    if kind == "range_breakout":
        window = cond.get("lookback_bars")
        if cond.get("direction") == "up":
            return f.close > lag(trailing_max(f.high, window), np.inf)
        return f.close < lag(trailing_min(f.low, window), -np.inf)
    if kind == "taker_imbalance":
        busy = f.volume_ratio(cond.get("lookback_bars")) >= cond.get("volume_ratio")
        if cond.get("buy_ratio_above") is not None:
            return busy & (f.taker_ratio >= cond.get("buy_ratio_above"))
        return busy & (f.taker_ratio <= cond.get("buy_ratio_below"))
    if kind == "long_short_extreme":
        if cond.get("ratio_above") is not None:
            return f.ls_ratio >= cond.get("ratio_above")
        return f.ls_ratio <= cond.get("ratio_below")
    if kind == "clock":
        mask = (f.hour == cond.get("hour")) & (f.minute == cond.get("minute"))
        if cond.get("weekday") is not None:
            mask &= f.weekday == cond.get("weekday")
        return mask
    raise ValueError(f"unknown condition kind {kind!r}")


def state_labels(f: Features) -> np.ndarray:
    """`vol_high` / `vol_low` per bar (the state recorded with every occurrence)."""
    return np.where(f.vol_high, "vol_high", "vol_low")


def state_mask(state: str, f: Features) -> np.ndarray:
    if state == "any":
        return np.ones(f.close.size, dtype=bool)
    if state == "vol_high":
        return f.vol_high
    if state == "vol_low":
        return ~f.vol_high
    raise ValueError(f"unknown state {state!r}")


def tradable(gap: np.ndarray, horizon: int) -> np.ndarray:
    """Bars where an occurrence can be measured: past the warm-up, and no missing bar from t-1 to
    t+horizon (maintenance is announced in advance, so this uses no price information)."""
    n = gap.size
    gcount = np.r_[0, np.cumsum(gap)]
    t = np.arange(n)
    hi = np.minimum(t + horizon + 1, n)
    lo = np.maximum(t - 1, 0)
    ok = (gcount[hi] - gcount[lo] == 0) & (t + horizon < n) & (t >= WARMUP_BARS)
    return ok
