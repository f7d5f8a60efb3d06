"""The contract between Binance's archive and our Parquet lake: one place that says, per kind,
where the archive keeps it, how its CSV columns are ordered, and how the lake stores it.

The dbt sources (models/staging/__sources.yml) mirror the lake schemas declared here; a test
keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

MARKETS: dict[str, str] = {"um": "futures/um", "spot": "spot"}
"""Lake market name -> archive path segment under data/."""

INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo",
)
DAILY_INTERVALS: frozenset[str] = frozenset(INTERVALS[: INTERVALS.index("1d") + 1])
SYMBOL_RE = re.compile(r"^[A-Z0-9]+$")

TS = pa.timestamp("us", tz="UTC")
F64 = pa.float64()

KLINE_SCHEMA = pa.schema([
    ("open_time", TS), ("open", F64), ("high", F64), ("low", F64), ("close", F64),
    ("volume", F64), ("close_time", TS), ("quote_volume", F64), ("trade_count", pa.int64()),
    ("taker_buy_base_volume", F64), ("taker_buy_quote_volume", F64),
])
PRICE_KLINE_SCHEMA = pa.schema([
    ("open_time", TS), ("open", F64), ("high", F64), ("low", F64), ("close", F64),
    ("close_time", TS), ("data_points", pa.int64()),
])
FUNDING_SCHEMA = pa.schema([
    ("funding_time", TS), ("settlement_time", TS), ("funding_interval_hours", pa.int32()),
    ("funding_rate", F64),
])
METRICS_SCHEMA = pa.schema([
    ("create_time", TS), ("period_end", TS), ("label_convention", pa.string()),
    ("sum_open_interest", F64), ("sum_open_interest_value", F64),
    ("count_toptrader_long_short_ratio", F64), ("sum_toptrader_long_short_ratio", F64),
    ("count_long_short_ratio", F64), ("sum_taker_long_short_vol_ratio", F64),
])
BOOK_TICKER_SCHEMA = pa.schema([
    ("update_id", pa.int64()), ("best_bid_price", F64), ("best_bid_qty", F64),
    ("best_ask_price", F64), ("best_ask_qty", F64), ("transaction_time", TS), ("event_time", TS),
])
LIQUIDATION_SCHEMA = pa.schema([
    ("time", TS), ("side", pa.string()), ("order_type", pa.string()), ("time_in_force", pa.string()),
    ("original_quantity", F64), ("price", F64), ("average_price", F64), ("order_status", pa.string()),
    ("last_fill_quantity", F64), ("accumulated_fill_quantity", F64),
])

KLINE_CSV = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
    "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)


@dataclass(frozen=True)
class KindSpec:
    """How one archive dataType is published and how its rows land in the lake."""

    name: str
    markets: frozenset[str]
    has_interval: bool
    periods: tuple[str, ...]
    """Archive periods that exist for this kind, preferred first."""
    csv_columns: tuple[str, ...]
    """Column names by position in the CSV (headers are never trusted)."""
    header_prefix: str
    schema: pa.Schema
    key: tuple[str, ...]
    """Natural key in the lake: duplicates on it are dropped and counted."""
    epoch_columns: tuple[str, ...]
    """CSV columns holding epoch ms/us integers (unit detected per file)."""


KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec("klines", frozenset({"um", "spot"}), True, ("monthly", "daily"), KLINE_CSV,
                 "open_time", KLINE_SCHEMA, ("open_time",), ("open_time", "close_time")),
        KindSpec("markPriceKlines", frozenset({"um"}), True, ("monthly", "daily"), KLINE_CSV,
                 "open_time", PRICE_KLINE_SCHEMA, ("open_time",), ("open_time", "close_time")),
        KindSpec("indexPriceKlines", frozenset({"um"}), True, ("monthly", "daily"), KLINE_CSV,
                 "open_time", PRICE_KLINE_SCHEMA, ("open_time",), ("open_time", "close_time")),
        KindSpec("premiumIndexKlines", frozenset({"um"}), True, ("monthly", "daily"), KLINE_CSV,
                 "open_time", PRICE_KLINE_SCHEMA, ("open_time",), ("open_time", "close_time")),
        KindSpec("fundingRate", frozenset({"um"}), False, ("monthly",),
                 ("calc_time", "funding_interval_hours", "last_funding_rate"),
                 "calc_time", FUNDING_SCHEMA, ("settlement_time",), ("calc_time",)),
        KindSpec("metrics", frozenset({"um"}), False, ("daily",),
                 ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                  "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
                  "count_long_short_ratio", "sum_taker_long_short_vol_ratio"),
                 "create_time", METRICS_SCHEMA, ("period_end",), ()),
        KindSpec("bookTicker", frozenset({"um"}), False, ("monthly", "daily"),
                 ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty",
                  "transaction_time", "event_time"),
                 "update_id", BOOK_TICKER_SCHEMA, ("update_id", "transaction_time"),
                 ("transaction_time", "event_time")),
        KindSpec("liquidationSnapshot", frozenset({"um"}), False, ("daily",),
                 ("time", "side", "order_type", "time_in_force", "original_quantity", "price",
                  "average_price", "order_status", "last_fill_quantity",
                  "accumulated_fill_quantity"),
                 "time", LIQUIDATION_SCHEMA, tuple(LIQUIDATION_SCHEMA.names), ("time",)),
    )
}


def lake_dir(market: str, kind: str, symbol: str, interval: str | None = None) -> str:
    """Lake folder (relative to the lake root) holding one symbol's files of one kind."""
    parts = ["raw", market, kind]
    if KINDS[kind].has_interval:
        parts.append(f"interval={interval}")
    parts.append(f"symbol={symbol}")
    return "/".join(parts)


def archive_file_name(kind: str, symbol: str, period: str, interval: str | None = None) -> str:
    """Binance's zip name: `SYM-5m-2024-01.zip` for the kline family, `SYM-kind-2024-01.zip` else."""
    middle = interval if KINDS[kind].has_interval else kind
    return f"{symbol}-{middle}-{period}.zip"


def archive_path(market: str, kind: str, symbol: str, period: str, interval: str | None = None) -> str:
    """Path of an archive below the archive root, e.g. `data/spot/monthly/klines/BTCUSDT/5m/...zip`."""
    period_type = "monthly" if len(period) == 7 else "daily"
    parts = ["data", MARKETS[market], period_type, kind, symbol]
    if KINDS[kind].has_interval:
        parts.append(interval or "")
    parts.append(archive_file_name(kind, symbol, period, interval))
    return "/".join(parts)
