"""The report on a warehouse that lacks most tables: sections whose table is missing, empty or
unreadable say so in words (and in their status) instead of stopping the report, and bad input
(no warehouse, a run id that is not a folder name) fails clearly before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingest.reporting import write_report
from tests.reports.helpers import SECTIONS, page_structure


@pytest.fixture()
def sparse_root(tmp_path: Path) -> Path:
    """Bars for two symbols over two days (one gap), an empty events table, an empty curves table, a
    bridge table with the wrong columns; nothing else."""
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        connection.execute("set TimeZone = 'UTC'")
        connection.execute("""
            create table fct_bars as
            select symbol, ts, (symbol = 'BTCUSDT' and ts = timestamptz '2024-03-02 00:00:00+00') as is_gap
            from (values ('BTCUSDT'), ('ETHUSDT')) as s(symbol),
                 range(timestamptz '2024-03-01 00:00:00+00', timestamptz '2024-03-03 00:00:00+00', interval 5 minute) as r(ts)""")
        connection.execute("create table fct_events (symbol varchar, ts timestamptz, event_type varchar, family varchar, "
                           "direction varchar)")
        connection.execute("create table fct_event_study_curves (family varchar, relative_bar integer)")
        connection.execute("create table fct_bridge_evaluation as select 1 as unexpected_column")
    finally:
        connection.close()
    return tmp_path


def test_sections_without_data_say_so(sparse_root: Path) -> None:
    files = write_report(sparse_root, "sparse")
    summary = json.loads(files.summary_json.read_text(encoding="utf-8"))
    html = files.report_html.read_text(encoding="utf-8")
    page = page_structure(html)
    assert page.sections == {"run": "missing", "coverage": "ok", "events": "empty", "event_study": "empty",
                             "discovery": "missing", "blueprints": "error", "backtest": "missing", "alpha": "missing"}
    assert tuple(page.sections) == SECTIONS
    assert "No run manifest was given" in html
    assert "The table fct_events has no rows" in html
    assert "The table fct_phase2_results is not in the warehouse" in html
    assert "The table fct_alpha_bundle_summary is not in the warehouse" in html
    assert "could not be read from the warehouse" in html  # the bridge table's columns are wrong
    assert "not in the warehouse." in html and "ingest ledger" in html.lower()
    head = summary["headline"]
    assert (head["bars"], head["symbols"]) == (2 * 576, 2)
    assert head["gap_share"] == pytest.approx(1 / 1152)
    assert head["hypotheses_tested"] is None and head["blueprints"] is None and summary["top_blueprints"] == []
    assert [f["plot"] for f in page.figures] == ["gap-heatmap"]
    assert "No blueprints in this warehouse." in files.summary_md.read_text(encoding="utf-8")


def test_bad_input_fails_before_writing(tmp_path: Path, sparse_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        write_report(tmp_path / "nowhere", "run")
    for bad in ("../escape", "", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="folder name"):
            write_report(sparse_root, bad)
    assert not (sparse_root / "reports").exists()


def test_rewriting_replaces_the_files_and_leaves_no_temporaries(sparse_root: Path) -> None:
    first = write_report(sparse_root, "again")
    before = first.summary_json.read_text(encoding="utf-8")
    second = write_report(sparse_root, "again", {"run_id": "again", "stages": [{"name": "dbt", "seconds": 1.0}]})
    assert second.directory == first.directory
    assert sorted(p.name for p in second.directory.iterdir()) == ["report.html", "summary.json", "summary.md"]
    assert json.loads(second.summary_json.read_text(encoding="utf-8"))["facts"]["run"]["status"] == "ok"
    assert second.summary_json.read_text(encoding="utf-8") != before
