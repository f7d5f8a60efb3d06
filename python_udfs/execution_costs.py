"""The backtest's dynamic execution cost per leg, and what the discovery cost model expected for the
same leg (the denominator of the slippage kill switch).

Why two models: discovery prices every event with one standard order (spec/costs.yaml `impact`),
which is what its after-cost edges assume. A backtest trades real sizes in real conditions: the
dynamic model adds a volatility term, takes the square-root impact at the order's real notional and
a linear participation term against the last bar's volume. The ratio of the two, over a strategy's
recent legs, says when execution has become much dearer than the edge was measured with.

All inputs are those known before the fill (the close of the previous bar); every cost is a
positive fraction of capital, for a traded weight `traded` (|change in weight|, a fraction of
capital). NaN inputs, and a bar without volume (no liquidity to trade against), give NaN
costs: unknown, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from python_udfs.cost_model import CostConfig

FloatArray = npt.NDArray[np.float64]
BPS = 1e-4


@dataclass(frozen=True)
class CostInputs:
    """Per bar and symbol, as known before a fill into the bar (the previous bar's close)."""

    half_spread_bps: FloatArray
    volatility_bps: FloatArray
    mean_quote_volume: FloatArray
    last_quote_volume: FloatArray


class LegCosts(NamedTuple):
    fees: FloatArray
    spread: FloatArray
    impact: FloatArray
    expected_slippage: FloatArray


def leg_costs(traded: FloatArray, inputs: CostInputs, costs: CostConfig, capital_usd: float) -> LegCosts:
    """Fees, half spread and impact (volatility + square-root liquidity + participation) of
    trading `traded` (same shape as the inputs), and the discovery model's half spread + impact at
    its standard order for the same legs. Zero where nothing is traded, even if inputs are NaN."""
    trading = traded > 0
    notional = traded * capital_usd
    mean_volume = np.where(inputs.mean_quote_volume > 0, inputs.mean_quote_volume, np.nan)
    last_volume = np.where(inputs.last_quote_volume > 0, inputs.last_quote_volume, np.nan)
    liquidity = costs.impact_coefficient_bps * np.sqrt(notional / mean_volume)
    participation = costs.participation_coefficient_bps * notional / last_volume
    expected_impact = costs.impact_coefficient_bps * np.sqrt(costs.order_notional_usd / mean_volume)
    volatility = costs.volatility_coefficient * inputs.volatility_bps
    half_spread = inputs.half_spread_bps if costs.pays_spread else np.zeros_like(traded)
    fees = traded * costs.fee_bps * BPS
    spread = np.where(trading, traded * half_spread * BPS, 0.0)
    impact = np.where(trading, traded * (volatility + liquidity + participation) * BPS, 0.0)
    expected = np.where(trading, traded * (half_spread + expected_impact) * BPS, 0.0)
    return LegCosts(fees, spread, impact, expected)
