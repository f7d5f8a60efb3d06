"""Kind-specific parsing quirks: funding jitter and intervals, metrics order and label convention,
doubled liquidation rows, header sniffing."""

from __future__ import annotations

import random

import pyarrow as pa

from ingest.parse_archive import parse_archive
from tests.ingest.conftest import kline_csv, make_zip


def parse(kind: str, period: str, csv: str | bytes, symbol: str = "BTCUSDT"):
    payload = csv.encode() if isinstance(csv, str) else csv
    return parse_archive(make_zip({f"x-{period}.csv": payload}), kind=kind, period=period, symbol=symbol,
                         name=f"{symbol}-{kind}-{period}.zip")


def test_funding_keeps_raw_time_and_derives_settlement_hour() -> None:
    csv = ("calc_time,funding_interval_hours,last_funding_rate\n"
           "1704067200011,8,0.0001\n"      # 00:00:00.011, late
           "1704096000000,8,-0.00025\n"    # 08:00 exactly
           "1704110399998,4,0.0003\n"      # 11:59:59.998, early: still the 12:00 settlement
           "1704096000000,8,-0.00025\n")   # duplicate row
    parsed = parse("fundingRate", "2024-01", csv)
    rows = parsed.table.to_pylist()
    assert [r["settlement_time"].isoformat() for r in rows] == [
        "2024-01-01T00:00:00+00:00", "2024-01-01T08:00:00+00:00", "2024-01-01T12:00:00+00:00"]
    assert rows[0]["funding_time"].microsecond == 11_000
    assert [r["funding_interval_hours"] for r in rows] == [8, 8, 4]
    assert parsed.duplicates_dropped == 1 and parsed.had_header


def metrics_csv(times: list[str]) -> str:
    header = ("create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
              "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n")
    return header + "".join(f"{t},BTCUSDT,100.5,1000.25,1.1,1.2,1.3,0.9\n" for t in times)


def day_times(day: str, start_minute: int) -> list[str]:
    out = []
    for i in range(288):
        minute = start_minute + 5 * i
        d = day if minute < 1440 else "2024-03-02"
        minute %= 1440
        out.append(f"{d} {minute // 60:02d}:{minute % 60:02d}:00")
    return out


def test_metrics_rows_out_of_order_are_sorted_and_labels_normalised() -> None:
    end_labelled = day_times("2024-03-01", 5)     # 00:05 .. next day 00:00
    random.Random(1).shuffle(end_labelled)
    parsed = parse("metrics", "2024-03-01", metrics_csv(end_labelled))
    table = parsed.table
    assert table.column("label_convention").unique().to_pylist() == ["end"]
    assert table.column("period_end")[0].as_py().isoformat() == "2024-03-01T00:05:00+00:00"
    assert table.column("period_end").to_pylist() == sorted(table.column("period_end").to_pylist())
    start_labelled = parse("metrics", "2024-03-01", metrics_csv(day_times("2024-03-01", 0))).table
    assert start_labelled.column("label_convention").unique().to_pylist() == ["start"]
    # Same periods whichever convention the file used.
    assert start_labelled.column("period_end").to_pylist() == table.column("period_end").to_pylist()


def test_liquidation_snapshot_doubling_is_removed() -> None:
    header = ("time,side,order_type,time_in_force,original_quantity,price,average_price,order_status,"
              "last_fill_quantity,accumulated_fill_quantity\n")
    rows = ["1709251200123,SELL,LIMIT,IOC,0.5,60000.1,59990.2,FILLED,0.5,0.5\n",
            "1709251260000,BUY,LIMIT,IOC,1.5,60100.0,60110.0,FILLED,1.5,1.5\n"]
    parsed = parse("liquidationSnapshot", "2024-03-01", header + "".join(rows + rows))
    assert parsed.table.num_rows == 2 and parsed.duplicates_dropped == 2


def test_header_and_no_header_files_parse_to_the_same_table() -> None:
    with_header = parse("klines", "2024-01", kline_csv(1_704_067_200_000, 50, header=True))
    without = parse("klines", "2024-01", kline_csv(1_704_067_200_000, 50, header=False))
    assert with_header.had_header and not without.had_header
    assert with_header.table.equals(without.table)
    assert with_header.table.schema.field("open_time").type == pa.timestamp("us", tz="UTC")


def test_price_klines_keep_prices_and_data_points() -> None:
    parsed = parse("indexPriceKlines", "2024-01", kline_csv(1_704_067_200_000, 3))
    assert parsed.table.column_names == ["open_time", "open", "high", "low", "close", "close_time", "data_points"]
    assert parsed.table.column("data_points").to_pylist() == [42, 42, 42]
