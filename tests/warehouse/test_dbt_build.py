"""The dbt project end to end on throw-away data roots: an empty lake builds, a tiny hand-written
lake is staged correctly (dedup, zero OI, types), a bad bar fails `dbt test`, the Python UDFs
agree with scipy, and the dbt sources agree with the lake contract in ingest/kinds.py."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import yaml
from scipy import stats

from ingest.kinds import KINDS
from ingest.lake import LedgerEntry
from python_udfs.duckdb_plugin import register_udfs

REPO = Path(__file__).resolve().parents[2]
SOURCES_YML = REPO / "models" / "staging" / "__sources.yml"

ARROW_TO_DUCKDB: dict[pa.DataType, str] = {
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.string(): "VARCHAR",
}
"""How the lake's Arrow types appear in DuckDB (extend when kinds.py gains a type)."""

PYTHON_TO_DUCKDB: dict[str, str] = {
    "str": "VARCHAR", "str | None": "VARCHAR", "int": "BIGINT", "int | None": "BIGINT",
    "bool | None": "BOOLEAN", "list[str]": "VARCHAR[]",
}
"""How LedgerEntry's field annotations appear in DuckDB once read from the JSON ledger."""

TSTZ, DOUBLE, BIGINT, INTEGER, VARCHAR = "TIMESTAMP WITH TIME ZONE", "DOUBLE", "BIGINT", "INTEGER", "VARCHAR"

slow = pytest.mark.slow
Built = tuple[Path, Any]
"""A session fixture's (data root, DbtRun of `dbt build`)."""


# --- (a) empty lake -------------------------------------------------------------------------------

@slow
def test_empty_lake_builds_and_every_staging_view_is_empty(helpers: Any, empty_lake: Built) -> None:
    root, run = empty_lake
    assert run.ok, run.output
    assert helpers.STAGING_MODELS, "no staging models found"
    for model in helpers.STAGING_MODELS:
        assert helpers.query(root, f"select count(*) from {model}") == [(0,)], model


@slow
def test_every_dbt_unit_test_runs_and_passes(empty_lake: Built) -> None:
    """The suite's other builds leave dbt unit tests out (tests/dbt_runner.py): this build must run
    every one the project declares, and each must pass."""
    root, run = empty_lake
    declared = {uid for uid in json.loads((root / "target" / "manifest.json").read_text())["unit_tests"]}
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(declared) >= 15, sorted(declared)
    assert set(statuses) == declared, sorted(declared - set(statuses))
    assert set(statuses.values()) == {"pass"}, {uid: s for uid, s in statuses.items() if s != "pass"}


@slow
def test_empty_lake_views_have_the_same_types_as_filled_ones(
    helpers: Any, empty_lake: Built, tiny_lake: Built
) -> None:
    (empty_root, empty_run), (tiny_root, tiny_run) = empty_lake, tiny_lake
    assert empty_run.ok and tiny_run.ok, empty_run.output + tiny_run.output
    for model in helpers.STAGING_MODELS:
        assert helpers.column_types(empty_root, model) == helpers.column_types(tiny_root, model), model


# --- (b) tiny lake --------------------------------------------------------------------------------

@slow
def test_tiny_lake_builds_and_passes_its_tests(tiny_lake: Built) -> None:
    _, run = tiny_lake
    assert run.ok, run.output
    assert re.search(r"ERROR=0\b", run.output), run.output


@slow
def test_klines_keep_one_row_per_bar_preferring_daily_then_monthly_then_freqtrade(
    helpers: Any, tiny_lake: Built
) -> None:
    root, _ = tiny_lake
    rows = helpers.query(root, """
        select symbol, interval, ts, open, volume, regexp_extract(source_file, '[^/]+$')
        from stg_binance__perp_klines order by symbol, ts
    """)
    got = {(symbol, ts): (open_, volume, file) for symbol, interval, ts, open_, volume, file in rows}
    assert len(got) == len(rows) == 7 + 6, "duplicate (symbol, ts) rows survived"
    assert {interval for _, interval, *_ in rows} == {"5m"}
    bar = lambda i: helpers.T0 + i * helpers.FIVE_MIN  # noqa: E731
    expected_btc = {0: (100.0, "2024-01.parquet"), 1: (100.0, "2024-01.parquet"),
                    2: (110.0, "2024-01-15.parquet"), 3: (110.0, "2024-01-15.parquet"),
                    4: (110.0, "2024-01-15.parquet"), 5: (100.0, "2024-01.parquet"),
                    6: (130.0, "freqtrade.parquet")}
    for i, (open_, file) in expected_btc.items():
        assert got["BTCUSDT", bar(i)][0] == open_ and got["BTCUSDT", bar(i)][2] == file, i
    assert got["BTCUSDT", bar(6)][1] is None, "freqtrade volume must stay NULL"
    for i in range(6):
        assert got["ETHUSDT", bar(i)][0] == (60.0 if 2 <= i <= 4 else 50.0), i
    assert helpers.query(root, "select count(*), count(distinct symbol) from stg_binance__spot_klines") == [(3, 1)]


@slow
def test_metrics_zero_open_interest_is_null_and_times_are_pit(helpers: Any, tiny_lake: Built) -> None:
    root, _ = tiny_lake
    rows = helpers.query(root, """
        select ts, period_end, available_at, open_interest, open_interest_value
        from stg_binance__metrics order by ts
    """)
    assert [r[3] for r in rows] == [1000.0, None, 1010.0]
    assert [r[4] for r in rows] == [40_000_000.0, None, 40_400_000.0]
    for ts, period_end, available_at, *_ in rows:
        assert period_end - ts == helpers.FIVE_MIN and available_at == period_end


@slow
def test_funding_liquidations_and_ledger_staging(helpers: Any, tiny_lake: Built) -> None:
    root, _ = tiny_lake
    funding = helpers.query(root, "select settlement_time, funding_time, available_at, funding_rate "
                          "from stg_binance__funding order by settlement_time")
    assert len(funding) == 3
    assert all(available == funding_time for _, funding_time, available, _ in funding)
    assert funding[0][0] == helpers.T0 and funding[0][1] - funding[0][0] == timedelta(milliseconds=3)
    assert helpers.query(root, "select count(*) from stg_binance__liquidations") == [(2,)], "doubled row kept twice"
    assert helpers.query(root, "select kind, period_type, status, ledger_file from stg_ingest__ledger") == [
        ("klines", "monthly", "ingested", "ledger/um/klines/interval=5m/symbol=BTCUSDT/2024-01.json")
    ]


@slow
def test_staging_columns_are_typed(helpers: Any, tiny_lake: Built) -> None:
    root, _ = tiny_lake
    assert helpers.column_types(root, "stg_binance__perp_klines") == {
        "symbol": VARCHAR, "interval": VARCHAR, "ts": TSTZ, "open": DOUBLE, "high": DOUBLE, "low": DOUBLE,
        "close": DOUBLE, "volume": DOUBLE, "quote_volume": DOUBLE, "trade_count": BIGINT,
        "taker_buy_base_volume": DOUBLE, "taker_buy_quote_volume": DOUBLE, "source_file": VARCHAR,
    }
    assert helpers.column_types(root, "stg_binance__funding") == {
        "symbol": VARCHAR, "settlement_time": TSTZ, "funding_time": TSTZ, "funding_interval_hours": INTEGER,
        "funding_rate": DOUBLE, "available_at": TSTZ, "source_file": VARCHAR,
    }
    metrics = helpers.column_types(root, "stg_binance__metrics")
    assert {k: metrics[k] for k in ("ts", "period_end", "available_at", "open_interest")} == {
        "ts": TSTZ, "period_end": TSTZ, "available_at": TSTZ, "open_interest": DOUBLE,
    }


@slow
def test_bar_with_high_below_close_fails_dbt_test(helpers: Any, tmp_path: Path, tiny_lake: Built) -> None:
    tiny_root, _ = tiny_lake
    shutil.copytree(tiny_root / "lake", tmp_path / "lake")
    bad = helpers.kline_rows(0, 1, 100.0)
    bad[0]["high"] = bad[0]["close"] - 0.5  # high < close
    bad[0]["open_time"] = helpers.T0 + timedelta(days=1)
    helpers.write_lake_file(tmp_path, "um", "klines", "BTCUSDT", "2024-01-16", bad, "5m")
    selector = ["--select", "stg_binance__perp_klines"]
    assert helpers.run_dbt(["run", *selector], tmp_path).ok
    run = helpers.run_dbt(["test", *selector], tmp_path)
    assert not run.ok, run.output
    assert re.search(r"FAIL 1 stg_binance__perp_klines__high_at_least_open_close", run.output), run.output


# --- (c) UDFs -------------------------------------------------------------------------------------

def _udf_inputs() -> tuple[list[float | None], list[float | None]]:
    rng = np.random.default_rng(20240115)
    t = [float(x) for x in rng.normal(0.0, 3.0, 200)] + [None, 1.0, 1.0, 1.0, float("inf"), -float("inf"), 0.0, 2.0]
    df = [float(x) for x in rng.uniform(0.2, 300.0, 200)] + [5.0, None, 0.0, -3.0, 4.0, 4.0, 10.0, float("inf")]
    return t, df


def _expected(t: list[float | None], df: list[float | None]) -> tuple[list[float | None], list[float | None]]:
    sf, two = [], []
    for ti, di in zip(t, df):
        if ti is None or di is None or di <= 0:
            sf.append(None)
            two.append(None)
        else:
            sf.append(float(stats.t.sf(ti, di)))
            two.append(float(min(1.0, 2 * stats.t.sf(abs(ti), di))))
    return sf, two


def _assert_close(got: list[float | None], want: list[float | None]) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None, (i, g)
        else:
            assert g is not None and np.isclose(g, w, rtol=1e-12, atol=1e-300), (i, g, w)


def test_student_t_udfs_match_scipy_on_a_duckdb_connection() -> None:
    t, df = _udf_inputs()
    conn = duckdb.connect()
    try:
        register_udfs(conn)
        inputs = pa.table({"i": list(range(len(t))), "t": pa.array(t, pa.float64()), "df": pa.array(df, pa.float64())})
        conn.register("inputs", inputs)
        rows = conn.sql("select student_t_sf(t, df), student_t_p_two_sided(t, df) from inputs order by i").fetchall()
    finally:
        conn.close()
    sf, two = _expected(t, df)
    _assert_close([r[0] for r in rows], sf)
    _assert_close([r[1] for r in rows], two)


@slow
def test_student_t_udfs_are_registered_by_the_dbt_plugin(helpers: Any, empty_lake: Built) -> None:
    root, run = empty_lake
    assert run.ok, run.output
    t, df = _udf_inputs()
    t, df = t[-30:], df[-30:]  # the special cases plus some random ones keep the inline SQL short
    literal = lambda v: "null" if v is None else f"'{v!r}'::double"  # noqa: E731
    values = ", ".join(f"({i}, {literal(a)}, {literal(b)})" for i, (a, b) in enumerate(zip(t, df)))
    rows = helpers.dbt_show_rows(
        "select i, student_t_sf(t, df) as sf, student_t_p_two_sided(t, df) as p "
        f"from (values {values}) as v(i, t, df) order by i", root)
    sf, two = _expected(t, df)
    _assert_close([r["sf"] for r in rows], sf)
    _assert_close([r["p"] for r in rows], two)


# --- (d) sources vs the lake contract -------------------------------------------------------------

def _duckdb_type_name(conn: duckdb.DuckDBPyConnection, data_type: str) -> str:
    return conn.sql(f"select typeof(cast(null as {data_type}))").fetchall()[0][0]


def _origin(column: dict) -> str:
    return ((column.get("config") or {}).get("meta") or column.get("meta") or {}).get("lake_origin", "file")


def test_sources_yml_matches_kinds_arrow_schemas() -> None:
    sources = {s["name"]: s for s in yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))["sources"]}
    tables = sources["binance_lake"]["tables"]
    expected_pairs = {(m, kind) for kind, spec in KINDS.items() for m in spec.markets}
    seen: set[tuple[str, str]] = set()
    conn = duckdb.connect()
    try:
        for table in tables:
            meta = table["config"]["meta"]
            market, kind = meta["lake_market"], meta["lake_kind"]
            spec = KINDS[kind]
            seen.add((market, kind))
            snake_kind = re.sub("([A-Z])", r"_\1", kind).lower()
            assert table["name"] == f"{market}_{snake_kind}", table["name"]
            assert meta["lake_has_interval"] == spec.has_interval, table["name"]
            columns = table["columns"]
            file_columns = [(c["name"], _duckdb_type_name(conn, c["data_type"])) for c in columns if _origin(c) == "file"]
            assert file_columns == [(f.name, ARROW_TO_DUCKDB[f.type]) for f in spec.schema], table["name"]
            partition = {c["name"]: _duckdb_type_name(conn, c["data_type"]) for c in columns if _origin(c) == "partition"}
            assert partition == {"symbol": VARCHAR, **({"interval": VARCHAR} if spec.has_interval else {})}
            assert [c["name"] for c in columns if _origin(c) == "reader"] == ["filename"]
        ledger = [(c["name"], _duckdb_type_name(conn, c["data_type"]))
                  for c in sources["ingest"]["tables"][0]["columns"] if _origin(c) == "file"]
        assert ledger == [(f.name, PYTHON_TO_DUCKDB[str(f.type)]) for f in fields(LedgerEntry)], \
            "source ingest.ledger columns != ingest/lake.py LedgerEntry fields"
    finally:
        conn.close()
    assert seen == expected_pairs and len(tables) == len(expected_pairs)
