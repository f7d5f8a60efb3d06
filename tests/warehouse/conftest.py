"""Helpers for the warehouse tests: run dbt against a throw-away data root, write lake files by
hand with the lake contract's Arrow schemas, and query the built warehouse."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from ingest.kinds import KINDS, lake_dir
from ingest.lake import lake_root, write_parquet_atomic
from tests.dbt_runner import DbtRun, run_concurrently, run_dbt

REPO = Path(__file__).resolve().parents[2]
STAGING_MODELS: tuple[str, ...] = tuple(sorted(p.stem for p in (REPO / "models" / "staging").glob("stg_*.sql")))
T0 = datetime(2024, 1, 15, tzinfo=timezone.utc)
FIVE_MIN = timedelta(minutes=5)


def dbt_show_rows(sql: str, data_root: Path, limit: int = 1000) -> list[dict[str, Any]]:
    """Rows of `dbt show --inline sql`, decoded from dbt's JSON log line."""
    run = run_dbt(["show", "--inline", sql, "--output", "json", "--log-format", "json",
                   "--limit", str(limit)], data_root)
    assert run.ok, run.output
    for line in run.output.splitlines():
        if line.startswith("{") and '"preview"' in line:
            return json.loads(json.loads(line)["data"]["preview"])
    raise AssertionError(f"no preview in dbt show output:\n{run.output}")


def query(data_root: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run `sql` read-only on the warehouse built under `data_root`."""
    conn = duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True)
    try:
        return conn.sql(sql).fetchall()
    finally:
        conn.close()


def column_types(data_root: Path, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type name of a relation in the warehouse."""
    return {name: type_ for name, type_, *_ in query(data_root, f"describe {relation}")}


def write_lake_file(data_root: Path, market: str, kind: str, symbol: str, period: str,
                    rows: Sequence[dict[str, Any]], interval: str | None = None) -> Path:
    """Write rows (missing columns NULL) as one lake file with the kind's exact Arrow schema."""
    schema = KINDS[kind].schema
    table = pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)
    target = lake_root(data_root) / lake_dir(market, kind, symbol, interval) / f"{period}.parquet"
    write_parquet_atomic(table, target)
    return target


def kline_rows(first_bar: int, count: int, price: float, *, volume: float | None = 10.0) -> list[dict[str, Any]]:
    """`count` consistent 5m kline rows starting at bar index `first_bar` after T0."""
    rows = []
    for i in range(first_bar, first_bar + count):
        ts = T0 + i * FIVE_MIN
        derived = volume is not None
        rows.append({
            "open_time": ts, "open": price, "high": price + 2, "low": price - 2, "close": price + 1,
            "volume": volume, "close_time": ts + FIVE_MIN - timedelta(milliseconds=1),
            "quote_volume": volume * price if derived else None, "trade_count": 7 if derived else None,
            "taker_buy_base_volume": volume / 2 if derived else None,
            "taker_buy_quote_volume": volume * price / 2 if derived else None,
        })
    return rows


def write_tiny_lake(root: Path) -> None:
    """Two perp symbols in a monthly file plus an overlapping daily file (and a freqtrade import
    for one), one spot symbol, funding, metrics with a zero-OI row, a doubled liquidation and one
    ledger entry."""
    from ingest.lake import LedgerEntry, record

    for symbol, base in (("BTCUSDT", 100.0), ("ETHUSDT", 50.0)):
        write_lake_file(root, "um", "klines", symbol, "2024-01", kline_rows(0, 6, base), "5m")
        write_lake_file(root, "um", "klines", symbol, "2024-01-15", kline_rows(2, 3, base + 10), "5m")
    write_lake_file(root, "um", "klines", "BTCUSDT", "freqtrade",
                    kline_rows(0, 2, 999.0, volume=None) + kline_rows(6, 1, 130.0, volume=None), "5m")
    write_lake_file(root, "spot", "klines", "BTCUSDT", "2024-01", kline_rows(0, 3, 101.0), "5m")

    settlements = [T0 + timedelta(hours=8 * i) for i in range(3)]
    write_lake_file(root, "um", "fundingRate", "BTCUSDT", "2024-01", [
        {"funding_time": s + timedelta(milliseconds=3), "settlement_time": s, "funding_interval_hours": 8,
         "funding_rate": 0.0001 * (i + 1)}
        for i, s in enumerate(settlements)
    ])

    write_lake_file(root, "um", "metrics", "BTCUSDT", "2024-01-15", [
        {"create_time": T0 + (i + 1) * FIVE_MIN, "period_end": T0 + (i + 1) * FIVE_MIN, "label_convention": "end",
         "sum_open_interest": oi, "sum_open_interest_value": oi * 40_000.0,
         "count_toptrader_long_short_ratio": 1.1, "sum_toptrader_long_short_ratio": 1.2,
         "count_long_short_ratio": 1.3, "sum_taker_long_short_vol_ratio": 0.9}
        for i, oi in enumerate((1000.0, 0.0, 1010.0))
    ])

    liquidation = {"time": T0, "side": "SELL", "order_type": "LIMIT", "time_in_force": "IOC",
                   "original_quantity": 0.5, "price": 99.0, "average_price": 99.5, "order_status": "FILLED",
                   "last_fill_quantity": 0.5, "accumulated_fill_quantity": 0.5}
    write_lake_file(root, "um", "liquidationSnapshot", "BTCUSDT", "2024-01-15",
                    [liquidation, liquidation, {**liquidation, "price": 98.0}])

    record(root, LedgerEntry(market="um", kind="klines", symbol="BTCUSDT", interval="5m", period="2024-01",
                             status="ingested", source_url="https://data.binance.vision/x.zip",
                             rows_read=6, rows_written=6, ingested_at="2024-02-01T00:00:00+00:00"))


@pytest.fixture(scope="session")
def small_lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, DbtRun]]:
    """Two throw-away warehouses, built side by side (each is mostly dbt's per-model overhead):
    `empty`, a data root with no lake at all, after `dbt build` with the unit tests (the one build
    of the suite that runs them: they need every model's relation to exist, not data); `tiny`, the
    hand-written lake of write_tiny_lake, after `dbt build`."""
    empty, tiny = tmp_path_factory.mktemp("empty_lake"), tmp_path_factory.mktemp("tiny_lake")
    write_tiny_lake(tiny)
    empty_run, tiny_run = run_concurrently(lambda: run_dbt(["build"], empty, unit_tests=True),
                                           lambda: run_dbt(["build"], tiny))
    return {"empty": (empty, empty_run), "tiny": (tiny, tiny_run)}


@pytest.fixture(scope="session")
def empty_lake(small_lakes: dict[str, tuple[Path, DbtRun]]) -> tuple[Path, DbtRun]:
    """A data root with no lake at all, after `dbt build` (unit tests included)."""
    return small_lakes["empty"]


@pytest.fixture(scope="session")
def tiny_lake(small_lakes: dict[str, tuple[Path, DbtRun]]) -> tuple[Path, DbtRun]:
    """A hand-written lake (see write_tiny_lake), after `dbt build`."""
    return small_lakes["tiny"]


class Helpers:
    """The helpers above, handed to tests by the `helpers` fixture (a conftest is not imported by
    test modules: tests/ is not a package)."""

    REPO = REPO
    STAGING_MODELS = STAGING_MODELS
    T0 = T0
    FIVE_MIN = FIVE_MIN
    run_dbt = staticmethod(run_dbt)
    dbt_show_rows = staticmethod(dbt_show_rows)
    query = staticmethod(query)
    column_types = staticmethod(column_types)
    write_lake_file = staticmethod(write_lake_file)
    kline_rows = staticmethod(kline_rows)


@pytest.fixture(scope="session")
def helpers() -> type[Helpers]:
    """Access to the warehouse test helpers."""
    return Helpers
