"""The symbols the demo market can trade and their character (price, beta to the market factor,
target correlation with the leader, liquidity). BTCUSDT is the leader: its diffusive return is the
market factor itself, every other symbol loads on it with its own beta."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SymbolSpec:
    """Static parameters of one symbol; everything random is drawn from the seed elsewhere."""

    name: str
    price0: float
    """Price on the first bar (USDT)."""
    beta: float
    """Loading of 5m returns on the market factor."""
    leader_corr: tuple[float, float]
    """Configured range for the correlation of 5m returns with the leader; the generator aims at the
    middle and the tests check the measured value falls inside."""
    perp_quote_per_bar: float
    """Mean USDT turnover of one 5m perp bar (spot is a fraction of it)."""
    spot_share: float
    oi_usd: float
    """Typical open interest notional (USDT)."""
    trade_usd: float
    """Mean size of one trade (USDT): turns quote volume into a trade count."""

    @property
    def target_corr(self) -> float:
        return 0.5 * (self.leader_corr[0] + self.leader_corr[1])

    @property
    def price_decimals(self) -> int:
        """About five significant digits, like Binance tick sizes (BTC 0.1, ETH 0.01, ...)."""
        return int(min(8, max(0, 5 - math.floor(math.log10(self.price0)))))

    @property
    def qty_decimals(self) -> int:
        """UM lot size decimals (BTC 0.001, ETH 0.01, DOGE 1)."""
        return int(min(3, max(0, math.floor(math.log10(self.price0)) - 1)))

    @property
    def spot_qty_decimals(self) -> int:
        return min(8, self.qty_decimals + 2)


def _alt(name: str, price0: float, beta: float, corr: tuple[float, float], turnover: float,
         oi: float, spot_share: float = 0.3, trade_usd: float = 700.0) -> SymbolSpec:
    return SymbolSpec(name, price0, beta, corr, turnover, spot_share, oi, trade_usd)


UNIVERSE: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", 62000.0, 1.0, (1.0, 1.0), 52e6, 0.18, 8e9, 2500.0),
    _alt("ETHUSDT", 3400.0, 1.10, (0.75, 0.92), 28e6, 5e9, 0.25, 1800.0),
    _alt("SOLUSDT", 130.0, 1.40, (0.62, 0.84), 10e6, 2e9, 0.3, 1100.0),
    _alt("BNBUSDT", 400.0, 0.80, (0.55, 0.80), 3e6, 6e8, 0.35, 900.0),
    _alt("XRPUSDT", 0.62, 1.10, (0.50, 0.77), 5e6, 1e9),
    _alt("DOGEUSDT", 0.12, 1.40, (0.55, 0.80), 5e6, 1e9),
    _alt("ADAUSDT", 0.65, 1.20, (0.52, 0.78), 2e6, 4e8),
    _alt("AVAXUSDT", 38.0, 1.40, (0.52, 0.78), 2e6, 4e8),
    _alt("LINKUSDT", 18.0, 1.30, (0.52, 0.78), 1.5e6, 3e8),
    _alt("DOTUSDT", 9.0, 1.20, (0.52, 0.78), 1e6, 2.5e8),
    _alt("LTCUSDT", 85.0, 1.00, (0.50, 0.76), 1e6, 3e8),
    _alt("TRXUSDT", 0.12, 0.60, (0.35, 0.62), 5e5, 1.5e8),
    _alt("NEARUSDT", 4.5, 1.50, (0.48, 0.75), 1e6, 2e8),
    _alt("ATOMUSDT", 11.0, 1.20, (0.48, 0.75), 6e5, 1.5e8),
    _alt("UNIUSDT", 9.0, 1.30, (0.45, 0.73), 6e5, 1.5e8),
    _alt("APTUSDT", 12.0, 1.50, (0.45, 0.73), 6e5, 1.5e8),
    _alt("ARBUSDT", 1.6, 1.50, (0.45, 0.73), 8e5, 2e8),
    _alt("OPUSDT", 3.3, 1.50, (0.45, 0.73), 8e5, 2e8),
    _alt("FILUSDT", 8.0, 1.30, (0.45, 0.73), 5e5, 1.5e8),
    _alt("INJUSDT", 35.0, 1.60, (0.42, 0.70), 5e5, 1.2e8),
    _alt("SUIUSDT", 1.5, 1.60, (0.42, 0.70), 8e5, 2e8),
    _alt("BCHUSDT", 420.0, 1.00, (0.50, 0.76), 8e5, 3e8),
    _alt("ETCUSDT", 30.0, 1.10, (0.48, 0.75), 5e5, 1.5e8),
    _alt("AAVEUSDT", 110.0, 1.30, (0.45, 0.73), 4e5, 1.2e8),
)

LEADER = UNIVERSE[0].name
