"""The CLEAN stage on a tiny hand-written lake: the regular 5m grid with NULL gap rows, 1m -> 5m
resampling with the partial flag, point-in-time funding and open interest (never a value published
after the bar's available_at), liquidations NULL on unpublished days but 0 on published ones, spot
and basis on the same ts, and `dbt test` naming the invariant a tampered fct_bars breaks.

One `dbt build` for the module (plus one `dbt test` on a tampered copy), so it stays well under
two minutes."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.lake import LedgerEntry, record

slow = pytest.mark.slow

MS = timedelta(milliseconds=1)
BTC_PERP_BARS = range(-6, 60)
"""BTCUSDT perp bars (index after T0 = 2024-01-15 00:00 UTC): six on 2024-01-14, then 00:00-04:55."""
BTC_PERP_MISSING = {4, 5}
BTC_ZERO_VOLUME_BAR = 7
BTC_OUTLIER_BAR = 9
BTC_SPOT_BARS = [i for i in range(0, 20) if i != 3]
FUNDING = [  # (settlement offset from T0, interval hours, rate): 8h, then a switch to 4h after T0
    (timedelta(hours=-8), 8, 0.0001),
    (timedelta(0), 8, 0.0002),
    (timedelta(hours=4), 4, 0.0003),
]
FUNDING_JITTER = 3 * MS
METRICS_BARS = list(range(0, 10)) + list(range(30, 60))
"""Bars whose 5-minute metrics reading exists (period_end = bar close); bars 10-29 have none."""
METRICS_MAX_AGE = timedelta(minutes=15)
"""spec/global_defaults.yaml clean.metrics_max_age_minutes."""

Built = tuple[Path, Any]


def bar(helpers: Any, i: int) -> datetime:
    return helpers.T0 + i * helpers.FIVE_MIN


def one_minute_rows(helpers: Any, bucket: int, minutes: list[int], price: float) -> list[dict[str, Any]]:
    """1m klines of 5m bucket `bucket` at the listed minutes (0-4), price rising by 1 a minute."""
    rows = []
    for m in minutes:
        ts = bar(helpers, bucket) + timedelta(minutes=m)
        p = price + m
        rows.append({"open_time": ts, "open": p, "high": p + 0.5, "low": p - 0.5, "close": p + 0.25,
                     "volume": 1.0, "close_time": ts + timedelta(minutes=1) - MS, "quote_volume": p,
                     "trade_count": 3, "taker_buy_base_volume": 0.5, "taker_buy_quote_volume": p / 2})
    return rows


def write_clean_lake(root: Path, helpers: Any) -> None:
    """BTCUSDT: 5m perp with a two-bar gap, a zero-volume bar and a range outlier; 5m spot with its
    own gap; funding switching 8h -> 4h; metrics with a 20-bar hole; liquidations published for
    2024-01-15 only; book ticker in two bars; mark klines. ETHUSDT: 1m perp only (a complete, a
    partial, a missing and a 5m-published bar), an empty but published liquidation day."""
    write, kl = helpers.write_lake_file, helpers.kline_rows

    perp = [row for i in BTC_PERP_BARS if i not in BTC_PERP_MISSING | {BTC_ZERO_VOLUME_BAR, BTC_OUTLIER_BAR}
            for row in kl(i, 1, 100.0)]
    perp += kl(BTC_ZERO_VOLUME_BAR, 1, 100.0, volume=0.0)
    outlier = kl(BTC_OUTLIER_BAR, 1, 100.0)[0]
    perp.append({**outlier, "high": 150.0, "low": 80.0})
    write(root, "um", "klines", "BTCUSDT", "2024-01", sorted(perp, key=lambda r: r["open_time"]), "5m")

    # Spot closes: 100 (perp closes 101: contango), 102 on bars 10-12 (backwardation), 101 on 13 (flat).
    spot_price = {10: 101.0, 11: 101.0, 12: 101.0, 13: 100.0}
    spot = [row for i in BTC_SPOT_BARS for row in kl(i, 1, spot_price.get(i, 99.0))]
    write(root, "spot", "klines", "BTCUSDT", "2024-01", spot, "5m")

    write(root, "um", "fundingRate", "BTCUSDT", "2024-01", [
        {"funding_time": helpers.T0 + offset + FUNDING_JITTER, "settlement_time": helpers.T0 + offset,
         "funding_interval_hours": hours, "funding_rate": rate}
        for offset, hours, rate in FUNDING
    ])

    write(root, "um", "metrics", "BTCUSDT", "2024-01-15", [
        {"create_time": bar(helpers, i + 1), "period_end": bar(helpers, i + 1), "label_convention": "end",
         "sum_open_interest": 1000.0 + i, "sum_open_interest_value": (1000.0 + i) * 100,
         "count_toptrader_long_short_ratio": 1.1, "sum_toptrader_long_short_ratio": 1.2,
         "count_long_short_ratio": 1.3, "sum_taker_long_short_vol_ratio": 0.9}
        for i in METRICS_BARS
    ])

    liquidation = {"side": "SELL", "order_type": "LIMIT", "time_in_force": "IOC", "original_quantity": 2.0,
                   "price": 99.0, "average_price": 100.0, "order_status": "FILLED",
                   "last_fill_quantity": 2.0, "accumulated_fill_quantity": 2.0}
    write(root, "um", "liquidationSnapshot", "BTCUSDT", "2024-01-15", [
        {**liquidation, "time": bar(helpers, 2) + timedelta(seconds=1)},
        {**liquidation, "time": bar(helpers, 2) + timedelta(seconds=1)},  # Binance's doubled row
        {**liquidation, "time": bar(helpers, 3) - MS, "side": "BUY", "original_quantity": 1.0,
         "accumulated_fill_quantity": 1.0, "average_price": 101.0},
        {**liquidation, "time": bar(helpers, 4)},  # on a perp gap bar: still a liquidation
    ])
    write(root, "um", "liquidationSnapshot", "ETHUSDT", "2024-01-15", [])
    ledger = [("BTCUSDT", "2024-01-15", "ingested"), ("BTCUSDT", "2024-01-14", "not_published"),
              ("ETHUSDT", "2024-01-15", "ingested")]
    for symbol, day, status in ledger:
        record(root, LedgerEntry(market="um", kind="liquidationSnapshot", symbol=symbol, interval=None,
                                 period=day, status=status, source_url=f"https://data.binance.vision/{day}.zip",
                                 ingested_at="2024-02-01T00:00:00+00:00"))

    quote = {"best_bid_price": 100.0, "best_bid_qty": 2.0, "best_ask_price": 100.02, "best_ask_qty": 3.0}
    write(root, "um", "bookTicker", "BTCUSDT", "2024-01-15", [
        {**quote, "update_id": 1, "transaction_time": bar(helpers, 3) + timedelta(seconds=10),
         "event_time": bar(helpers, 3) + timedelta(seconds=10, milliseconds=2)},
        {**quote, "update_id": 2, "best_ask_price": 100.04, "transaction_time": bar(helpers, 3) + timedelta(seconds=20),
         "event_time": bar(helpers, 3) + timedelta(seconds=20, milliseconds=2)},
        # Matched in bar 3 but published after its close: known only in bar 4.
        {**quote, "update_id": 3, "transaction_time": bar(helpers, 4) - MS, "event_time": bar(helpers, 4) + 2 * MS},
    ])

    write(root, "um", "markPriceKlines", "BTCUSDT", "2024-01", kl(0, 60, 100.5), "5m")

    eth = (one_minute_rows(helpers, 0, [0, 1, 2, 3, 4], 50.0)
           + one_minute_rows(helpers, 1, [0, 1, 3, 4], 60.0)          # minute 2 missing: partial
           + one_minute_rows(helpers, 3, [0, 1, 2, 3, 4], 70.0))      # bucket 2 missing: a gap
    write(root, "um", "klines", "ETHUSDT", "2024-01", eth, "1m")
    write(root, "um", "klines", "ETHUSDT", "2024-01", kl(3, 1, 80.0), "5m")  # wins over the 1m bar


@pytest.fixture(scope="module")
def clean_lake(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> Built:
    root = tmp_path_factory.mktemp("clean_lake")
    write_clean_lake(root, helpers)
    return root, helpers.run_dbt(["build"], root)


def fct(helpers: Any, root: Path, columns: str, where: str = "true") -> dict[tuple[str, int], tuple[Any, ...]]:
    """fct_bars rows keyed by (symbol, bar index after T0)."""
    rows = helpers.query(root, f"select symbol, ts, {columns} from fct_bars where {where} order by symbol, ts")
    return {(symbol, round((ts - helpers.T0) / helpers.FIVE_MIN)): tuple(rest) for symbol, ts, *rest in rows}


@slow
def test_clean_lake_builds_and_every_test_passes(clean_lake: Built) -> None:
    _, run = clean_lake
    assert run.ok, run.output
    assert re.search(r"ERROR=0\b", run.output), run.output


@slow
def test_grid_is_complete_from_first_to_last_bar(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "available_at")
    btc = sorted(i for symbol, i in rows if symbol == "BTCUSDT")
    eth = sorted(i for symbol, i in rows if symbol == "ETHUSDT")
    assert btc == list(BTC_PERP_BARS), "BTCUSDT grid must run from its first to its last bar with no hole"
    assert eth == [0, 1, 2, 3]
    for (_, i), (available_at,) in rows.items():
        assert available_at == bar(helpers, i + 1)


@slow
def test_gap_rows_are_null_never_zero_or_carried(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    cols = "is_gap, open, high, low, close, volume, trade_count, n_source_bars, is_zero_volume, basis"
    rows = fct(helpers, root, cols)
    gaps = {key for key, row in rows.items() if row[0]}
    assert gaps == {("BTCUSDT", 4), ("BTCUSDT", 5), ("ETHUSDT", 2)}
    for key in gaps:
        assert rows[key][1:] == (None,) * 6 + (0, None, None), key
    assert rows["BTCUSDT", 6][1:5] == (100.0, 102.0, 98.0, 101.0), "the bar after a gap is its own bar"


@slow
def test_one_minute_bars_resample_with_partial_flag_and_5m_preferred(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "open, high, low, close, volume, source_interval, n_source_bars, is_partial",
               "symbol = 'ETHUSDT'")
    assert rows["ETHUSDT", 0] == (50.0, 54.5, 49.5, 54.25, 5.0, "1m", 5, False)
    assert rows["ETHUSDT", 1] == (60.0, 64.5, 59.5, 64.25, 4.0, "1m", 4, True)
    assert rows["ETHUSDT", 3] == (80.0, 82.0, 78.0, 81.0, 10.0, "5m", 1, False)


@slow
def test_quality_flags(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "is_zero_volume, is_range_outlier", "symbol = 'BTCUSDT' and not is_gap")
    assert {i for (_, i), (zero, _) in rows.items() if zero} == {BTC_ZERO_VOLUME_BAR}
    assert {i for (_, i), (_, outlier) in rows.items() if outlier} == {BTC_OUTLIER_BAR}


@slow
def test_funding_is_the_last_settlement_published_by_available_at(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "available_at, funding_rate, funding_interval_hours, last_settlement_time, "
               "next_settlement_time, funding_available_at, is_settlement_bar", "symbol = 'BTCUSDT'")
    for (_, i), (available_at, rate, hours, last, nxt, source_time, settles) in rows.items():
        known = [(offset, h, r) for offset, h, r in FUNDING if helpers.T0 + offset + FUNDING_JITTER <= available_at]
        offset, want_hours, want_rate = known[-1]
        assert (rate, hours, last) == (want_rate, want_hours, helpers.T0 + offset), i
        assert source_time == last + FUNDING_JITTER <= available_at, i
        assert nxt == last + timedelta(hours=hours), i
        assert settles == (bar(helpers, i) < nxt <= available_at), i
    # The settlement at 00:00 is published 3 ms after the 23:55 bar closes: that bar still has the
    # previous one (and settles at its close); the 8h -> 4h switch shows from the 04:00 bar on.
    assert rows["BTCUSDT", -1][1:3] == (0.0001, 8) and rows["BTCUSDT", -1][6] is True
    assert rows["BTCUSDT", 0][1:3] == (0.0002, 8)
    assert rows["BTCUSDT", 47][1:3] == (0.0002, 8)
    assert rows["BTCUSDT", 48][1:3] == (0.0003, 4)
    eth = fct(helpers, root, "funding_rate, is_settlement_bar", "symbol = 'ETHUSDT'")
    assert set(eth.values()) == {(None, None)}


@slow
def test_open_interest_is_point_in_time_and_stale_readings_are_null(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "available_at, open_interest, metrics_available_at", "symbol = 'BTCUSDT'")
    readings = {bar(helpers, i + 1): 1000.0 + i for i in METRICS_BARS}  # period_end -> open interest
    for (_, i), (available_at, open_interest, source_time) in rows.items():
        known = [t for t in readings if t <= available_at]
        if not known or available_at - max(known) > METRICS_MAX_AGE:
            assert (open_interest, source_time) == (None, None), i
        else:
            assert (open_interest, source_time) == (readings[max(known)], max(known)), i
    assert rows["BTCUSDT", 3][1] == 1003.0, "the reading of the bar's own period, known at its close"
    assert rows["BTCUSDT", 12][1] == 1009.0 and rows["BTCUSDT", 13][1] is None, "15 minutes old is the limit"


@slow
def test_liquidations_are_null_on_unpublished_days_and_zero_on_published_ones(
    helpers: Any, clean_lake: Built
) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "liquidations_published, liquidation_count, liquidation_buy_qty, "
               "liquidation_sell_qty, liquidation_sell_notional")
    for i in range(-6, 0):  # 2024-01-14: not published
        assert rows["BTCUSDT", i] == (False, None, None, None, None), i
    assert rows["BTCUSDT", 2] == (True, 2, 1.0, 2.0, 200.0), "the doubled row is one liquidation"
    assert rows["BTCUSDT", 4] == (True, 1, 0.0, 2.0, 200.0), "a perp gap bar still has its liquidations"
    for i in set(range(0, 60)) - {2, 4}:
        assert rows["BTCUSDT", i] == (True, 0, 0.0, 0.0, 0.0), i
    for i in range(4):  # a published file without a single row: true zeros
        assert rows["ETHUSDT", i] == (True, 0, 0.0, 0.0, 0.0), i


@slow
def test_spot_basis_and_book_ticker_on_the_same_bar(helpers: Any, clean_lake: Built) -> None:
    root, _ = clean_lake
    rows = fct(helpers, root, "spot_is_gap, spot_close, basis, basis_state, mark_close, book_update_count, "
               "book_quoted_spread_bps, book_available_at, available_at", "symbol = 'BTCUSDT'")
    spot_gaps = {i for (_, i), row in rows.items() if row[0]}
    assert spot_gaps == set(BTC_PERP_BARS) - set(BTC_SPOT_BARS)
    for i in spot_gaps:
        assert rows["BTCUSDT", i][1:4] == (None, None, None), i
    assert rows["BTCUSDT", 0][1:4] == (100.0, pytest.approx(0.01), "contango")
    assert rows["BTCUSDT", 10][3] == "backwardation" and rows["BTCUSDT", 13][2:4] == (0.0, "flat")
    assert rows["BTCUSDT", 0][4] == 101.5 and rows["BTCUSDT", -1][4] is None
    assert rows["BTCUSDT", 3][5:7] == (2, pytest.approx((0.02 / 100.01 + 0.04 / 100.02) / 2 * 1e4))
    assert rows["BTCUSDT", 4][5] == 1, "an update published after bar 3 closed belongs to bar 4"
    assert {i for (_, i), row in rows.items() if row[5] is not None} == {3, 4}
    assert all(row[7] < row[8] for row in rows.values() if row[7] is not None)
    eth = fct(helpers, root, "spot_is_gap, basis", "symbol = 'ETHUSDT'")
    assert set(eth.values()) == {(True, None)}, "no spot market: spot_is_gap everywhere"


@slow
def test_dbt_test_names_the_broken_invariant_of_a_tampered_fct_bars(
    helpers: Any, clean_lake: Built, tmp_path: Path
) -> None:
    """A copy of the built warehouse with a zero-filled gap row, a funding value published after
    the bar's available_at and a deleted bar: `dbt test` fails and names each broken test."""
    root, run = clean_lake
    assert run.ok, run.output
    copy = tmp_path / "tampered"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("target", "logs"))
    conn = duckdb.connect(str(copy / "warehouse.duckdb"))
    try:
        conn.execute("update fct_bars set open = 0, high = 0, low = 0, close = 0, volume = 0 "
                     "where symbol = 'BTCUSDT' and is_gap")
        conn.execute("update fct_bars set funding_available_at = available_at + interval 1 minute "
                     "where symbol = 'BTCUSDT' and ts = ?", [bar(helpers, 20)])
        conn.execute("delete from fct_bars where symbol = 'BTCUSDT' and ts = ?", [bar(helpers, 30)])
    finally:
        conn.close()
    tested = helpers.run_dbt(["test", "--select", "fct_bars"], copy)
    assert not tested.ok, tested.output
    failed = set(re.findall(r"Failure in test (\w+)", tested.output))
    assert failed == {"fct_bars__no_perp_values_on_gap_rows", "fct_bars__funding_known_by_available_at",
                      "fct_bars__regular_5m_grid"}, tested.output


@slow
def test_spec_threshold_drives_the_build_and_a_bad_key_is_named(
    helpers: Any, clean_lake: Built, tmp_path: Path
) -> None:
    """spec/global_defaults.yaml `clean` is read at build time: a lower range threshold flags more
    bars with no code change; an unknown key stops the build with the file and the key."""
    root, run = clean_lake
    assert run.ok, run.output
    copy = tmp_path / "respec"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("target", "logs"))
    spec_dir = tmp_path / "spec"
    shutil.copytree(helpers.REPO / "spec", spec_dir)
    defaults = spec_dir / "global_defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    assert "range_outlier_max_log_range: 0.15" in text

    # Every BTCUSDT bar ranges 98-102: ln(102/98) = 0.04 > 0.03.
    defaults.write_text(text.replace("range_outlier_max_log_range: 0.15", "range_outlier_max_log_range: 0.03"))
    rebuilt = helpers.run_dbt(["run", "--select", "int_bars__gap_masked"], copy, spec_dir)
    assert rebuilt.ok, rebuilt.output
    count = "select count(*) from int_bars__gap_masked where market = 'perp' and symbol = 'BTCUSDT' and is_range_outlier"
    assert helpers.query(root, count) == [(1,)]
    assert helpers.query(copy, count) == [(len(BTC_PERP_BARS) - len(BTC_PERP_MISSING),)]

    defaults.write_text(text.replace("range_outlier_max_log_range:", "range_outlier_max_logrange:"))
    refused = helpers.run_dbt(["run", "--select", "int_bars__gap_masked"], copy, spec_dir)
    assert not refused.ok
    assert "spec/global_defaults.yaml, section clean: unknown key 'range_outlier_max_logrange'" in refused.output
