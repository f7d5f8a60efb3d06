"""`make demo`'s job end to end on a small demo market: generate, ingest through the real
ingester, dbt build; the warehouse then holds every bar the archive published."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingest.pipeline import run_demo


@pytest.mark.slow
def test_demo_pipeline_builds_the_warehouse(tmp_path: Path) -> None:
    lines: list[str] = []
    warehouse = run_demo(tmp_path, symbols=2, months=2, seed=11, say=lines.append)
    assert any(line.startswith("==> ingest") for line in lines), "no progress was shown"
    con = duckdb.connect(str(warehouse), read_only=True)
    ledger_rows = con.execute("""
        select sum(rows_written) from stg_ingest__ledger
        where status = 'ingested' and market = 'um' and kind = 'klines'""").fetchone()[0]
    perp_rows, symbols = con.execute(
        "select count(*), count(distinct symbol) from stg_binance__perp_klines").fetchone()
    assert symbols == 2
    # Daily archives repeat days a monthly archive lacks: staging keeps each bar once.
    assert 0 < perp_rows <= ledger_rows
    assert perp_rows == con.execute("select count(distinct (symbol, ts)) from stg_binance__perp_klines").fetchone()[0]
    funding_intervals = {r[0] for r in con.execute("select distinct funding_interval_hours from stg_binance__funding").fetchall()}
    assert funding_intervals <= {4, 8} and 8 in funding_intervals
    # Second run: the archive is reused and the lake is unchanged.
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "raw").rglob("*.parquet"))
    con.close()
    lines.clear()
    run_demo(tmp_path, symbols=2, months=2, seed=11, say=lines.append)
    assert any("reusing" in line for line in lines)
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "raw").rglob("*.parquet")) == before
