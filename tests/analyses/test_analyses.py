"""The ready-made queries of analyses/ compile with dbt and return rows on the planted warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.dbt_runner import run_dbt

REPO = Path(__file__).resolve().parents[2]
ANALYSES = sorted(path.stem for path in (REPO / "analyses").glob("*.sql"))
pytestmark = pytest.mark.slow


def test_every_analysis_compiles_and_returns_rows(planted_warehouse: Path) -> None:
    assert {"event_study", "event_coverage", "top_discoveries_by_family", "blueprint_trades"} <= set(ANALYSES)
    done = run_dbt(["compile", "-s", *[f"analyses/{name}.sql" for name in ANALYSES],
                    "--vars", "{event_type: FUNDING_TIMESTAMP_EVENT}"], planted_warehouse)
    assert done.returncode == 0, done.stdout[-3000:]
    compiled = planted_warehouse / "target" / "compiled" / "binance_warehouse" / "analyses"
    conn = duckdb.connect(str(planted_warehouse / "warehouse.duckdb"), read_only=True)
    try:
        for name in ANALYSES:
            rows = conn.execute((compiled / f"{name}.sql").read_text()).fetchall()
            assert rows, f"analyses/{name}.sql returned no rows on the planted warehouse"
        trades = conn.execute((compiled / "blueprint_trades.sql").read_text()).fetchall()
        # every trade holds at least one bar and its net is its gross - costs + funding
        assert all(row[5] >= 1 and abs(row[11] - (row[8] - row[9] + row[10])) < 1e-12 for row in trades)
    finally:
        conn.close()


def test_dbt_docs_show_the_lineage_from_sources_to_blueprints_and_backtest(planted_warehouse: Path) -> None:
    import json

    done = run_dbt(["docs", "generate"], planted_warehouse)
    assert done.returncode == 0, done.stdout[-3000:]
    target = planted_warehouse / "target"
    assert (target / "catalog.json").exists() and (target / "index.html").exists()
    parents = json.loads((target / "manifest.json").read_text())["parent_map"]

    def upstream(node: str) -> set[str]:
        seen: set[str] = set()
        stack = [node]
        while stack:
            for parent in parents.get(stack.pop(), []):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    for mart in ("dim_blueprints", "fct_backtest_pnl", "fct_walkforward"):
        lineage = upstream(f"model.binance_warehouse.{mart}")
        assert "source.binance_warehouse.binance_lake.um_klines" in lineage, mart
        assert "model.binance_warehouse.fct_events" in lineage, mart
    catalog = json.loads((target / "catalog.json").read_text())["nodes"]
    assert "model.binance_warehouse.fct_backtest_summary" in catalog
