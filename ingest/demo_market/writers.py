"""Turn one symbol's simulated arrays into Binance CSV payloads, one archive (file) at a time.

Each function takes the bar rows of the archive's period (already cut for gaps and defects) and
returns (csv bytes, row count); column order always comes from `ingest.kinds.KINDS`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.demo_market.bars import TickCandles
from ingest.demo_market.book_ticker import BookRows
from ingest.demo_market.csvfmt import constant, csv_bytes, decimal_text, float_units, rescale
from ingest.demo_market.flow import Flow
from ingest.demo_market.liquidations import LiquidationRows
from ingest.demo_market.symbol_model import SPOT_DECIMALS, SymbolData
from ingest.demo_market.timeline import BAR_MS
from ingest.kinds import KINDS

PRICE_KLINE_POINTS = 300
"""Column 8 of mark/index klines: basic data points per 5m bar (one per second)."""


def _times(open_ms: np.ndarray, unit: str) -> tuple[pa.Array, pa.Array]:
    """Open and close time columns in `ms` or `us` (close = open + 5m - 1 unit)."""
    mult = 1000 if unit == "us" else 1
    start = open_ms * mult
    return pa.array(start), pa.array(start + BAR_MS * mult - 1)


def kline_csv(open_ms: np.ndarray, prices: TickCandles, fl: Flow, rows: np.ndarray, unit: str,
              header: bool, spot: bool) -> bytes:
    """Trade klines (spot or UM): 12 columns per `KINDS['klines'].csv_columns`. Spot writes every
    decimal with 8 places, UM at the contract's tick/lot precision."""
    price_scale = SPOT_DECIMALS if spot else prices.decimals
    qty_scale = SPOT_DECIMALS if spot else fl.qty_decimals

    def px(a: np.ndarray) -> pa.Array:
        return decimal_text(rescale(a[rows], prices.decimals, price_scale), price_scale)

    def qty(a: np.ndarray) -> pa.Array:
        return decimal_text(rescale(a[rows], fl.qty_decimals, qty_scale), qty_scale)

    open_t, close_t = _times(open_ms[rows], unit)
    cols = [open_t, px(prices.open), px(prices.high), px(prices.low), px(prices.close), qty(fl.volume_units),
            close_t, decimal_text(fl.quote_units[rows], fl.quote_decimals), pa.array(fl.trades[rows]),
            qty(fl.taker_units), decimal_text(fl.taker_quote_units[rows], fl.quote_decimals),
            constant("0", rows.size)]
    return csv_bytes(KINDS["klines"].csv_columns, cols, header)


def price_kline_csv(kind: str, open_ms: np.ndarray, prices: TickCandles, rows: np.ndarray, header: bool) -> bytes:
    """Mark / index / premium klines: OHLC plus the ignored columns as "0", like Binance."""
    open_t, close_t = _times(open_ms[rows], "ms")
    zero = constant("0", rows.size)
    d = prices.decimals
    points = pa.array(np.full(rows.size, PRICE_KLINE_POINTS, dtype=np.int64))
    cols = [open_t, decimal_text(prices.open[rows], d), decimal_text(prices.high[rows], d),
            decimal_text(prices.low[rows], d), decimal_text(prices.close[rows], d), zero, close_t, zero, points,
            zero, zero, zero]
    return csv_bytes(KINDS[kind].csv_columns, cols, header)


def funding_csv(data: SymbolData, rows: np.ndarray) -> bytes:
    f = data.funding
    cols = [pa.array(f.calc_ms[rows]), pa.array(f.interval_h[rows]),
            decimal_text(np.rint(f.rate[rows] * 1e8).astype(np.int64), 8)]
    return csv_bytes(KINDS["fundingRate"].csv_columns, cols, True)


def metrics_csv(data: SymbolData, open_ms: np.ndarray, rows: np.ndarray) -> bytes:
    """One day of `metrics`: end-of-period labels (the row for bar t is stamped t + 5m)."""
    labels = pa.array((open_ms[rows] + BAR_MS) // 1000, pa.timestamp("s")).cast(pa.string())
    oi, oi_scale = float_units(data.oi_units[rows], 8)
    value, value_scale = float_units(data.oi_value[rows], 8)
    fl = data.perp_flow
    taker = fl.taker_units[rows]
    taker_ratio = taker / np.maximum(fl.volume_units[rows] - taker, 1)
    r = data.ratios

    def ratio(a: np.ndarray) -> pa.Array:
        return decimal_text(np.rint(a * 1e8).astype(np.int64), 8)

    cols = [labels, constant(data.name, rows.size), decimal_text(oi, oi_scale), decimal_text(value, value_scale),
            ratio(r.count_toptrader[rows]), ratio(r.sum_toptrader[rows]), ratio(r.count_long_short[rows]),
            ratio(taker_ratio)]
    return csv_bytes(KINDS["metrics"].csv_columns, cols, True)


def liquidation_csv(data: SymbolData, liq: LiquidationRows, rows: np.ndarray) -> bytes:
    """Every row twice, as Binance's liquidationSnapshot files have it."""
    rows = np.repeat(rows, 2)
    d, q = data.spec.price_decimals, data.spec.qty_decimals
    qty = decimal_text(liq.qty_units[rows], q)
    side = pa.array(np.where(liq.side[rows] < 0, "SELL", "BUY"))
    cols = [pa.array(liq.time_ms[rows]), side, constant("LIMIT", rows.size), constant("IOC", rows.size), qty,
            decimal_text(liq.price_units[rows], d), decimal_text(liq.avg_units[rows], d),
            constant("FILLED", rows.size), qty, qty]
    return csv_bytes(KINDS["liquidationSnapshot"].csv_columns, cols, True)


def book_ticker_csv(data: SymbolData, book: BookRows, order: np.ndarray) -> bytes:
    d, q = data.spec.price_decimals, data.spec.qty_decimals
    cols = [pa.array(book.update_id[order]), decimal_text(book.bid_units[order], d),
            decimal_text(book.bid_qty_units[order], q), decimal_text(book.ask_units[order], d),
            decimal_text(book.ask_qty_units[order], q), pa.array(book.transaction_ms[order]),
            pa.array(book.event_ms[order])]
    return csv_bytes(KINDS["bookTicker"].csv_columns, cols, True)
