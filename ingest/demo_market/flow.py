"""Traded volume, quote volume, trade count and taker-buy volumes of one market's bars.

Volume follows the vol regime, the size of the bar's shock, seasonality and cascades; taker buys
lean with the sign of the bar's shock. Quote volumes are volume times a price inside the bar's
range, so every column is consistent with price and volume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.demo_market.bars import TickCandles
from ingest.demo_market.streams import stream


@dataclass(frozen=True)
class UsdActivity:
    """Turnover in USDT before it is turned into base units (independent of the planted drift)."""

    usd: np.ndarray
    taker_share: np.ndarray
    vwap_weight: np.ndarray
    trade_usd: np.ndarray


def usd_activity(seed: int, index: int, market: str, mean_usd: float, trade_usd: float, sigma: np.ndarray,
                 shock: np.ndarray, season: np.ndarray, volume_mult: np.ndarray,
                 common_noise: np.ndarray | None = None) -> UsdActivity:
    rng = stream(seed, f"flow-{market}", index)
    n = sigma.size
    log_sigma = np.log(sigma)
    regime = 0.8 * (log_sigma - log_sigma.mean())
    size = np.log(0.45 + 0.55 * np.minimum(np.abs(shock), 12.0))
    noise = rng.normal(0.0, 0.3, n) + (common_noise if common_noise is not None else 0.0)
    log_usd = regime + size + noise + np.log(season) + np.log(volume_mult)
    usd = np.exp(log_usd)
    usd *= mean_usd / usd.mean()
    taker = np.clip(0.5 + 0.27 * np.tanh(0.8 * shock) + rng.normal(0.0, 0.08, n), 0.03, 0.97)
    weight = np.clip(rng.normal(0.5, 0.12, n), 0.05, 0.95)
    per_trade = trade_usd * np.exp(rng.normal(0.0, 0.3, n))
    return UsdActivity(usd, taker, weight, per_trade)


@dataclass(frozen=True)
class Flow:
    """Kline volume columns as exact decimals: `*_units` are integers at the given decimals."""

    volume_units: np.ndarray
    quote_units: np.ndarray
    trades: np.ndarray
    taker_units: np.ndarray
    taker_quote_units: np.ndarray
    qty_decimals: int
    quote_decimals: int


def flow(act: UsdActivity, prices: TickCandles, qty_decimals: int, quote_decimals: int) -> Flow:
    vwap = prices.vwap(act.vwap_weight)
    qscale, vscale = 10.0**quote_decimals, 10.0**qty_decimals
    volume_units = np.maximum(np.rint(act.usd / vwap * vscale), 100).astype(np.int64)
    volume = volume_units / vscale
    quote_units = np.rint(volume * vwap * qscale).astype(np.int64)
    taker_units = np.rint(volume_units * act.taker_share).astype(np.int64)
    share = taker_units / volume_units
    taker_quote_units = np.rint(quote_units * share).astype(np.int64)
    trades = np.maximum(np.rint(volume * vwap / act.trade_usd), 1).astype(np.int64)
    return Flow(volume_units, quote_units, trades, taker_units, taker_quote_units, qty_decimals, quote_decimals)
