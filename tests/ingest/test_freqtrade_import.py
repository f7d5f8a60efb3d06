"""`backtest import-freqtrade`: real freqtrade folders land in the lake with exact row counts, the
lake schema (absent columns NULL, never zero), derived funding intervals, byte-identical re-imports,
and clear errors for bad input. Expected values are computed here from the feather files
themselves, independently of the importer."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from ingest.freqtrade_import import (
    FreqtradeFileError,
    FreqtradeImportError,
    NotAFreqtradeDirectory,
    Series,
    Skipped,
    classify,
    import_directory,
    register,
)
from ingest.ingest_run import LakeBusy, lake_lock

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FREQTRADE = SHARED_DATA / "freqtrade"
FOLDERS = ("marketlab-2025", "q1-2025")
HOUR_NS = 3_600_000_000_000
KLINE_ABSENT = ("quote_volume", "trade_count", "taker_buy_base_volume", "taker_buy_quote_volume")

SPOT_RE = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<tf>\w+)\.feather$")
FUT_RE = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)_(?P<settle>[A-Z0-9]+)-(?P<tf>\w+)-"
                    r"(?P<type>futures|mark|funding_rate)\.feather$")
FUT_KIND = {"futures": "klines", "mark": "markPriceKlines", "funding_rate": "fundingRate"}


def require_shared_data() -> None:
    if not FREQTRADE.is_dir():
        pytest.skip(f"../shared/data is absent: {FREQTRADE} holds the real freqtrade folders "
                    "(only present on the development machine)")


def expected_series(path: Path) -> tuple[str, str, str | None, str]:
    """(market, kind, interval, symbol) for a real file, written out independently of the importer."""
    if match := SPOT_RE.match(path.name):
        return "spot", "klines", match["tf"], match["base"] + match["quote"]
    match = FUT_RE.match(path.name)
    assert match, f"unexpected file in the shared data: {path}"
    kind = FUT_KIND[match["type"]]
    return "um", kind, None if kind == "fundingRate" else match["tf"], match["base"] + match["settle"]


def lake_file(root: Path, series: tuple[str, str, str | None, str]) -> Path:
    market, kind, interval, symbol = series
    folder = root / "lake" / "raw" / market / kind
    if interval:
        folder /= f"interval={interval}"
    return folder / f"symbol={symbol}" / "freqtrade.parquet"


def ledger(root: Path, series: tuple[str, str, str | None, str]) -> dict:
    path = lake_file(root, series)
    relative = path.relative_to(root / "lake" / "raw").with_suffix(".json")
    return json.loads((root / "lake" / "ledger" / relative).read_text())


def expected_counts(path: Path, funding: bool) -> tuple[int, int]:
    """(rows in the file, distinct natural keys): open time, or funding time rounded to the hour."""
    dates = feather.read_table(path, columns=["date"])["date"].cast(pa.int64()).to_numpy()
    keys = (dates + HOUR_NS // 2) // HOUR_NS if funding else dates
    return len(dates), len(np.unique(keys))


def lake_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under lake/ (the lock file included: it is left empty)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "lake").rglob("*")) if p.is_file()}


def data_mtimes(root: Path) -> dict[str, int]:
    """mtime of every lake Parquet file and ledger entry: unchanged means not rewritten."""
    return {str(p): p.stat().st_mtime_ns for pattern in ("*.parquet", "*.json")
            for p in (root / "lake").rglob(pattern)}


def sql(query: str) -> list[tuple]:
    return duckdb.sql(query).fetchall()


@pytest.fixture(scope="module", params=FOLDERS)
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Each real folder imported once into its own fresh data root."""
    require_shared_data()
    folder = FREQTRADE / request.param
    root = tmp_path_factory.mktemp(request.param)
    return folder, root, import_directory(folder, root)


@pytest.fixture(scope="module")
def marketlab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_shared_data()
    root = tmp_path_factory.mktemp("marketlab-funding")
    import_directory(FREQTRADE / "marketlab-2025", root)
    return root


# --- real folders -------------------------------------------------------------------------------

TOTAL_ROWS = {"marketlab-2025": 3_663_349, "q1-2025": 203_937}
FILES = {"marketlab-2025": 76, "q1-2025": 15}


def test_every_file_imports_to_its_exact_row_count(imported) -> None:
    folder, root, report = imported
    files = sorted(folder.glob("*.feather")) + sorted(folder.glob("futures/*.feather"))
    assert len(files) == len(report.outcomes) == FILES[folder.name]
    assert report.skipped == []
    total = 0
    for path in files:
        series = expected_series(path)
        rows_read, distinct = expected_counts(path, funding=series[1] == "fundingRate")
        target = lake_file(root, series)
        assert sql(f"select count(*) from read_parquet('{target}')")[0][0] == distinct, path.name
        entry = ledger(root, series)
        assert (entry["status"], entry["source_url"], entry["period"]) == ("imported", str(path.resolve()), "freqtrade")
        assert (entry["rows_read"], entry["rows_written"]) == (rows_read, distinct), path.name
        assert entry["duplicates_dropped"] == rows_read - distinct, path.name
        assert entry["lake_path"] == str(target.relative_to(root / "lake"))
        total += distinct
    assert total == sum(o.rows_written for o in report.outcomes) == TOTAL_ROWS[folder.name]
    assert sum(o.duplicates_dropped for o in report.outcomes) == 0  # the real folders hold none


def test_symbols_and_kinds_are_mapped(imported) -> None:
    folder, root, report = imported
    mapped = {(o.series.market, o.series.kind, o.series.interval, o.series.symbol) for o in report.outcomes}
    for series in [("spot", "klines", "5m", "BTCUSDT"), ("um", "klines", "5m", "BTCUSDT"),
                   ("um", "fundingRate", None, "BTCUSDT")]:
        assert series in mapped and lake_file(root, series).exists()
    by_kind: dict[tuple[str, str, str | None], set[str]] = {}
    for market, kind, interval, symbol in mapped:
        by_kind.setdefault((market, kind, interval), set()).add(symbol)
    if folder.name == "q1-2025":
        assert by_kind == {
            ("spot", "klines", "5m"): {"BTCUSDT", "ETHUSDT", "ADAUSDT"},
            ("spot", "klines", "30m"): {"BTCUSDT", "ETHUSDT", "ADAUSDT"},
            ("um", "klines", "5m"): {"BTCUSDT", "ETHUSDT", "ADAUSDT"},
            ("um", "fundingRate", None): {"BTCUSDT", "ETHUSDT", "ADAUSDT"},
            ("um", "markPriceKlines", "8h"): {"BTCUSDT", "ETHUSDT", "ADAUSDT"},
        }
    else:
        assert {k: len(v) for k, v in by_kind.items()} == {
            ("spot", "klines", "5m"): 17, ("um", "klines", "5m"): 19,
            ("um", "fundingRate", None): 20, ("um", "markPriceKlines", "1h"): 20,
        }
        # 1000PEPE has funding and mark files but no perp klines; the digits stay in the symbol.
        assert "1000PEPEUSDT" in by_kind[("um", "fundingRate", None)] - by_kind[("um", "klines", "5m")]
        assert {"HYPEUSDT", "XAUUSDT"} <= by_kind[("um", "klines", "5m")]


def test_absent_columns_are_null_not_zero(imported) -> None:
    _, root, report = imported
    lake = root / "lake" / "raw"
    step_ms = "case \"interval\" when '5m' then 300000 when '30m' then 1800000 when '1h' then 3600000 " \
              "when '8h' then 28800000 end"
    bad_close = f"epoch_ms(close_time) - epoch_ms(open_time) + 1 is distinct from {step_ms}"
    nulls = " and ".join(f"{c} is null" for c in KLINE_ABSENT)
    zeros = " or ".join(f"{c} = 0" for c in KLINE_ABSENT)
    for market in ("spot", "um"):
        rows, null_rows, zero_rows, wrong_close, volume = sql(
            f"select count(*), count(*) filter (where {nulls}), count(*) filter (where {zeros}), "
            f"count(*) filter (where {bad_close}), count(*) filter (where volume > 0) "
            f"from read_parquet('{lake}/{market}/klines/*/*/*.parquet', hive_partitioning = true)")[0]
        assert rows > 0 and null_rows == rows and zero_rows == 0 and wrong_close == 0
        assert volume > 0  # the base volume freqtrade does keep is carried over
    rows, null_points, wrong_close = sql(
        f"select count(*), count(*) filter (where data_points is null), count(*) filter (where {bad_close}) "
        f"from read_parquet('{lake}/um/markPriceKlines/*/*/*.parquet', hive_partitioning = true)")[0]
    assert rows > 0 and null_points == rows and wrong_close == 0
    for outcome in report.outcomes:
        entry = ledger(root, (outcome.series.market, outcome.series.kind, outcome.series.interval,
                              outcome.series.symbol))
        expected = {"klines": list(KLINE_ABSENT), "markPriceKlines": ["data_points"], "fundingRate": []}
        assert entry["absent_columns"] == expected[outcome.series.kind]


def test_funding_rows_keep_jitter_and_derive_intervals(imported) -> None:
    folder, root, _ = imported
    funding = root / "lake" / "raw" / "um" / "fundingRate"
    jittered, off_hour, max_jitter_ms, wrong_gap, bad_first, bad_rate = sql(f"""
        with rows as (
            select *,
                   date_diff('hour', lag(settlement_time) over w, settlement_time) as gap,
                   row_number() over w as n, lead(funding_interval_hours) over w as next_hours
            from read_parquet('{funding}/*/*.parquet', hive_partitioning = true)
            window w as (partition by symbol order by settlement_time))
        select count(*) filter (where funding_time <> settlement_time),
               count(*) filter (where date_trunc('hour', settlement_time) <> settlement_time),
               max(abs(epoch_ms(funding_time) - epoch_ms(settlement_time))),
               count(*) filter (where n > 1 and gap <> funding_interval_hours),
               count(*) filter (where n = 1 and funding_interval_hours is distinct from next_hours),
               count(*) filter (where funding_rate is null)
        from rows""")[0]
    assert (off_hour, wrong_gap, bad_first, bad_rate) == (0, 0, 0, 0)
    if folder.name == "q1-2025":
        assert jittered > 0 and 0 < max_jitter_ms < 1000  # e.g. 00:00:00.015 kept as funding_time
    hours = dict(sql(f"""select symbol, list_sort(list_distinct(list(funding_interval_hours)))
                         from read_parquet('{funding}/*/*.parquet', hive_partitioning = true) group by 1"""))
    assert hours["BTCUSDT"] == [8]
    if folder.name == "marketlab-2025":
        assert hours["HYPEUSDT"] == [4]           # the file name says 1h; the data settles every 4h
        assert hours["ORCAUSDT"] == [1, 2, 4]     # changes cadence mid-series
        assert hours["RIVERUSDT"] == [1, 2, 4]
        assert hours["PIPPINUSDT"] == [1, 3, 4]   # one 3h gap where 1h switched to 4h


def test_funding_rate_is_the_open_column(marketlab: Path) -> None:
    source = feather.read_table(FREQTRADE / "marketlab-2025" / "futures" / "ORCA_USDT_USDT-1h-funding_rate.feather")
    lake = marketlab / "lake" / "raw" / "um" / "fundingRate" / "symbol=ORCAUSDT" / "freqtrade.parquet"
    stored = sql(f"select funding_rate from read_parquet('{lake}') order by settlement_time")
    assert [r[0] for r in stored] == source["open"].to_pylist()


def test_reimport_is_byte_identical(imported) -> None:
    folder, root, _ = imported
    before, mtimes = lake_hashes(root), data_mtimes(root)
    again = import_directory(folder, root)
    assert {o.status for o in again.outcomes} == {"unchanged"}
    assert lake_hashes(root) == before
    assert data_mtimes(root) == mtimes  # not even rewritten with the same bytes


# --- name mapping and bad input (no shared data needed) ----------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("BTC_USDT-5m.feather", ("spot", "klines", "5m", "BTCUSDT")),
    ("ETH_USDT-30m.feather", ("spot", "klines", "30m", "ETHUSDT")),
    ("futures/BTC_USDT_USDT-5m-futures.feather", ("um", "klines", "5m", "BTCUSDT")),
    ("futures/1000PEPE_USDT_USDT-1h-mark.feather", ("um", "markPriceKlines", "1h", "1000PEPEUSDT")),
    ("futures/HYPE_USDT_USDT-1h-funding_rate.feather", ("um", "fundingRate", None, "HYPEUSDT")),
    ("futures/BTC_USDC_USDC-8h-funding_rate.feather", ("um", "fundingRate", None, "BTCUSDC")),
    ("futures/BTC_USDT_USDT-1h-index.feather", ("um", "indexPriceKlines", "1h", "BTCUSDT")),
    ("BTC_USDT-5m.json", "convert-data"),
    ("BTC_USDT-trades.feather", "trades"),
    ("futures/BTC_USD_BTC-5m-futures.feather", "coin-margined"),
    ("BTC_USDT_USDT-5m.feather", "spot file name"),
    ("futures/BTC_USDT-5m-futures.feather", "futures file name"),
    ("BTC_USDT-1M.feather", "timeframe"),
    ("btc_usdt-5m.feather", "upper-case"),
    ("futures/BTC_USDT_USDT-5m-weird.feather", "candle type"),
    ("notes.txt", "not a freqtrade data file"),
])
def test_file_names_map_to_lake_series(name: str, expected: tuple | str) -> None:
    result = classify(Path("/data/binance") / name)
    if isinstance(expected, tuple):
        assert isinstance(result, Series)
        assert (result.market, result.kind, result.interval, result.symbol) == expected
    else:
        assert isinstance(result, Skipped) and expected in result.reason


def write_candles(path: Path, start: datetime, minutes: list[float], rate: float | None = None) -> None:
    """A small freqtrade-style feather file (date as timestamp[ns, UTC])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dates = pa.array([start + timedelta(minutes=m) for m in minutes], pa.timestamp("ns", tz="UTC"))
    values = pa.array([rate if rate is not None else 100.0 + i for i in range(len(minutes))], pa.float64())
    zero = pa.array([0.0] * len(minutes), pa.float64())
    feather.write_feather(pa.table({"date": dates, "open": values, "high": zero if rate else values,
                                    "low": zero if rate else values, "close": zero if rate else values,
                                    "volume": zero if rate else values}), path)


START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def parser_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backtest")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["import-freqtrade", *argv])


@pytest.mark.parametrize("case", ["missing", "empty", "junk", "file", "parent"])
def test_bad_folder_gives_a_clear_error(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "binance"
    if case == "empty":
        folder.mkdir()
    elif case == "junk":
        folder.mkdir()
        (folder / "README.txt").write_text("not data")
    elif case == "file":
        folder.write_text("not a folder")
    elif case == "parent":
        write_candles(folder / "BTC_USDT-5m.feather", START, [0, 5])
        folder = tmp_path
    with pytest.raises(NotAFreqtradeDirectory) as error:
        import_directory(folder, tmp_path / "root")
    message = str(error.value)
    assert str(folder) in message and "expected" in message and "freqtrade" in message
    if case == "parent":
        assert "did you mean" in message
    assert isinstance(error.value, ValueError)
    assert not (tmp_path / "root" / "lake" / "raw").exists()

    from ingest.cli import UsageError

    args = parser_args(str(folder), "--data-root", str(tmp_path / "root"), "--quiet")
    with pytest.raises(UsageError, match=re.escape(str(folder))):
        args.handler(args)


def test_corrupt_feather_names_the_file_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "binance"
    write_candles(folder / "BTC_USDT-5m.feather", START, [0, 5, 10])
    bad = folder / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    write_candles(bad, START, [0, 5, 10])
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated download
    with pytest.raises(FreqtradeFileError, match=re.escape(str(bad))):
        import_directory(folder, tmp_path / "root")
    assert not list((tmp_path / "root").rglob("*.parquet")) and not list((tmp_path / "root").rglob("*.json"))


def test_wrong_timeframe_in_name_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "binance"
    write_candles(folder / "BTC_USDT-30m.feather", START, [0, 5, 10])  # 5m candles named 30m
    with pytest.raises(FreqtradeFileError, match="30m"):
        import_directory(folder, tmp_path / "root")


def test_duplicates_are_dropped_and_counted_and_skips_listed(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "binance"
    write_candles(folder / "BTC_USDT-5m.feather", START, [0, 5, 5, 10, 10, 10])
    # two funding rows that round to the same settlement hour (one 12 ms late), then 4h after 8h
    funding = folder / "futures" / "BTC_USDT_USDT-8h-funding_rate.feather"
    write_candles(funding, START, [0, 8 * 60, 8 * 60 + 0.0002, 12 * 60, 16 * 60], rate=0.0001)
    (folder / "ETH_USDT-5m.json").write_text("[]")
    root = tmp_path / "root"
    args = parser_args(str(folder), "--data-root", str(root), "--quiet")
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "spot klines 5m: 1 files (1 written, 0 unchanged), 3 rows, 3 duplicates dropped" in out
    assert "skipped ETH_USDT-5m.json" in out and "interval changes: BTCUSDT (4h/8h)" in out
    spot = ledger(root, ("spot", "klines", "5m", "BTCUSDT"))
    assert (spot["rows_read"], spot["rows_written"], spot["duplicates_dropped"]) == (6, 3, 3)
    lake = lake_file(root, ("um", "fundingRate", None, "BTCUSDT"))
    assert [r[0] for r in sql(f"select funding_interval_hours from read_parquet('{lake}') order by 1 nulls first")] \
        == [4, 4, 8, 8]
    assert ledger(root, ("um", "fundingRate", None, "BTCUSDT"))["duplicates_dropped"] == 1


def test_one_row_funding_series_has_null_interval(tmp_path: Path) -> None:
    folder = tmp_path / "binance" / "futures"
    write_candles(folder / "BTC_USDT_USDT-8h-funding_rate.feather", START, [0], rate=0.0001)
    import_directory(folder.parent, tmp_path / "root")
    lake = lake_file(tmp_path / "root", ("um", "fundingRate", None, "BTCUSDT"))
    assert sql(f"select funding_interval_hours from read_parquet('{lake}')") == [(None,)]


def test_import_refuses_while_an_ingest_holds_the_lake(tmp_path: Path) -> None:
    folder = tmp_path / "binance"
    write_candles(folder / "BTC_USDT-5m.feather", START, [0, 5])
    root = tmp_path / "root"
    with lake_lock(root), pytest.raises(LakeBusy, match="in use"):
        import_directory(folder, root)
    assert not list(root.rglob("*.parquet"))
    assert issubclass(FreqtradeFileError, FreqtradeImportError)
