"""Everything one symbol needs for its archives, simulated in dependency order:
returns -> OI build-up -> cascades -> basis, funding, ratios -> planted drift -> candles and volumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ingest.demo_market.bars import LogCandles, TickCandles, candles, draw_wicks, premium_candles, to_ticks
from ingest.demo_market.basis import BasisParams, Funding, basis_path, funding
from ingest.demo_market.cascades import CascadeParams, Cascades, MarketCascades, symbol_cascades
from ingest.demo_market.conditions import Features
from ingest.demo_market.dynamics import DynamicsParams, MarketPath, simulate_symbol
from ingest.demo_market.effects import EffectSpec
from ingest.demo_market.flow import Flow, flow, usd_activity
from ingest.demo_market.liquidations import LiquidationRows, liquidation_rows, plan_liquidations
from ingest.demo_market.planting import PlantResult, plant
from ingest.demo_market.positioning import (PositioningParams, Ratios, long_short_ratios, open_interest,
                                            open_interest_base)
from ingest.demo_market.streams import stream
from ingest.demo_market.timeline import Timeline, volume_season
from ingest.demo_market.universe import SymbolSpec

UM_QUOTE_DECIMALS = 4
SPOT_DECIMALS = 8


@dataclass(frozen=True)
class ModelParams:
    """All generator parameters (recorded in ground_truth/config.json)."""

    dynamics: DynamicsParams = field(default_factory=DynamicsParams)
    cascades: CascadeParams = field(default_factory=CascadeParams)
    positioning: PositioningParams = field(default_factory=PositioningParams)
    basis: BasisParams = field(default_factory=BasisParams)
    wick_scale: float = 0.45
    spot_trade_share: float = 0.5
    """Spot trades are smaller than perp trades by this factor."""


@dataclass(frozen=True)
class SymbolData:
    name: str
    index: int
    spec: SymbolSpec
    spot: TickCandles
    perp: TickCandles
    index_price: TickCandles
    mark: TickCandles
    premium: TickCandles
    spot_flow: Flow
    perp_flow: Flow
    perp_log: LogCandles
    funding: Funding
    oi_units: np.ndarray
    oi_value: np.ndarray
    ratios: Ratios
    liquidations: LiquidationRows
    cascades: Cascades
    planted: PlantResult
    idio_scale: float


def _bars_funding(n: int, f: Funding, published_until_ms: int) -> np.ndarray:
    """8h-normalised rate on each settlement bar, NaN elsewhere and where the archive has no funding
    file yet (the open month): a condition must be detectable from the archive itself."""
    out = np.full(n, np.nan)
    seen = f.settle_ms < published_until_ms
    out[f.bar[seen]] = f.rate_8h[seen]
    return out


def build_symbol(tl: Timeline, seed: int, index: int, spec: SymbolSpec, market: MarketPath,
                 market_cascades: MarketCascades, gap: np.ndarray, blocked: np.ndarray,
                 effects: tuple[EffectSpec, ...], funding_switch_ms: int | None, funding_published_until_ms: int,
                 p: ModelParams) -> SymbolData:
    """Simulate one symbol end to end. Everything that does not depend on the planted drift (vol,
    cascades, OI, basis, turnover) is drawn first; the drift is then planted on the perp path by
    `plant`, and only then are prices rounded into candles, so the archive carries exactly the
    path the ground truth was detected on."""
    n = tl.n
    path = simulate_symbol(tl, seed, index, spec, market, p.dynamics)
    oi_base = open_interest_base(seed, index, path.trend_z, p.positioning)
    casc = symbol_cascades(tl, seed, index, spec.beta, path, oi_base.z, market, market_cascades, blocked, p.cascades)
    boost = np.exp(casc.log_vol_boost)
    sigma = path.sigma * boost
    raw = path.ret * boost + casc.jump
    base_ret = raw - casc.compensator
    shock = raw / sigma

    log_oi = open_interest(oi_base, casc.oi_flush, p.positioning)
    oi_units = spec.oi_usd / spec.price0 * np.exp(log_oi)
    bp = basis_path(seed, index, path.trend_z, casc, p.basis)
    fund = funding(tl, seed, index, bp.premium, funding_switch_ms, p.basis)
    ratios = long_short_ratios(seed, index, path.trend_z, index == 0, p.positioning)
    wicks = draw_wicks(seed, index, sigma, casc.jump, p.wick_scale)

    season = volume_season(tl)
    common = stream(seed, "flow-common", index).normal(0.0, 0.25, n)
    perp_act = usd_activity(seed, index, "um", spec.perp_quote_per_bar, spec.trade_usd, sigma, shock, season,
                            casc.volume_mult, common)
    spot_act = usd_activity(seed, index, "spot", spec.perp_quote_per_bar * spec.spot_share,
                            spec.trade_usd * p.spot_trade_share, sigma, shock, season, casc.volume_mult, common)
    liq_plan = plan_liquidations(seed, index, casc, oi_units, gap)
    liq_qty = liq_plan.qty_per_bar(n)

    log_p0 = np.log(spec.price0)
    perp_offset = bp.index_log + np.log1p(bp.premium)
    funding_bars = _bars_funding(n, fund, funding_published_until_ms)
    oi_change = np.diff(log_oi, prepend=log_oi[0])
    hour, minute, weekday = tl.hour(), tl.minute(), tl.weekday()

    def perp_candles(drift: np.ndarray) -> LogCandles:
        x = log_p0 + np.cumsum(base_ret + drift)
        return candles(x + perp_offset, log_p0 + perp_offset[0], wicks)

    def features_for(drift: np.ndarray) -> Features:
        c = perp_candles(drift)
        lo, hi = np.exp(c.low), np.exp(c.high)
        vwap = lo + (hi - lo) * perp_act.vwap_weight
        return Features(close=c.close, high=c.high, low=c.low, volume=perp_act.usd / vwap,
                        taker_ratio=perp_act.taker_share, oi_change=oi_change, liq_usd=liq_qty * np.exp(c.close),
                        ls_ratio=ratios.count_long_short, funding_rate_8h=funding_bars,
                        hour=hour, minute=minute, weekday=weekday)

    planted = plant(effects, n, gap, features_for)
    x = log_p0 + np.cumsum(base_ret + planted.drift)
    spot_log = candles(x, log_p0, wicks)
    perp_log = perp_candles(planted.drift)
    index_log = candles(x + bp.index_log, log_p0 + bp.index_log[0], wicks, 0.7)
    mark_off = bp.index_log + np.log1p(bp.mark_premium)
    mark_log = candles(x + mark_off, log_p0 + mark_off[0], wicks, 0.6)

    d = spec.price_decimals
    spot_t, perp_t = to_ticks(spot_log, d), to_ticks(perp_log, d)
    mark_t = to_ticks(mark_log, d)
    liq_rows = liquidation_rows(liq_plan, perp_log, tl.start_ms, d, spec.qty_decimals)
    return SymbolData(
        name=spec.name, index=index, spec=spec, spot=spot_t, perp=perp_t, index_price=to_ticks(index_log, d),
        mark=mark_t, premium=premium_candles(bp.premium, seed, index),
        spot_flow=flow(spot_act, spot_t, spec.spot_qty_decimals, SPOT_DECIMALS),
        perp_flow=flow(perp_act, perp_t, spec.qty_decimals, UM_QUOTE_DECIMALS),
        perp_log=perp_log, funding=fund, oi_units=oi_units,
        oi_value=oi_units * mark_t.close / 10.0**d, ratios=ratios, liquidations=liq_rows, cascades=casc,
        planted=planted, idio_scale=path.idio_scale,
    )


