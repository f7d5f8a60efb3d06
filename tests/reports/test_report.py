"""The run report on the planted warehouse (tests/demo_warehouse.py): summary.json's numbers equal
SQL on the warehouse, the event-study curves agree with the forward-return labels, every section
and plot is in report.html, the page references nothing outside itself, summary.md says the same
as summary.json, and the report works without a run manifest."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.reporting import ReportFiles, write_report
from tests.reports.helpers import REQUIRED_PLOTS, SAMPLE_MANIFEST, SECTIONS, page_structure

pytestmark = pytest.mark.slow

RUN_ID = "pytest-report"


@pytest.fixture(scope="module")
def report(planted_warehouse: Path) -> dict[str, Any]:
    started = time.perf_counter()
    files = write_report(planted_warehouse, RUN_ID, SAMPLE_MANIFEST)
    seconds = time.perf_counter() - started
    return {"files": files, "seconds": seconds, "summary": json.loads(files.summary_json.read_text(encoding="utf-8")),
            "html": files.report_html.read_text(encoding="utf-8"), "md": files.summary_md.read_text(encoding="utf-8")}


def sql(root: Path, query: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
    connection = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        connection.execute("set TimeZone = 'UTC'")
        return connection.execute(query, parameters or []).fetchall()
    finally:
        connection.close()


def scalar(root: Path, query: str) -> Any:
    return sql(root, query)[0][0]


def test_files_are_written_in_place_without_leftovers(report: dict[str, Any], planted_warehouse: Path) -> None:
    files: ReportFiles = report["files"]
    assert files.directory == planted_warehouse / "reports" / RUN_ID
    assert sorted(p.name for p in files.directory.iterdir()) == ["report.html", "summary.json", "summary.md"]
    assert report["summary"]["files"] == ["summary.json", "summary.md", "report.html"]
    assert report["seconds"] < 30, f"writing the report took {report['seconds']:.1f} s"


def test_headline_numbers_equal_sql_on_the_warehouse(report: dict[str, Any], planted_warehouse: Path) -> None:
    root, head = planted_warehouse, report["summary"]["headline"]
    bars, gaps, symbols = sql(root, "select count(*), count(*) filter (where is_gap), count(distinct symbol) from fct_bars")[0]
    assert (head["bars"], head["symbols"]) == (bars, symbols)
    assert head["gap_share"] == pytest.approx(gaps / bars)
    assert head["first_bar"] == scalar(root, "select min(ts) from fct_bars").isoformat()
    assert head["archives_ingested"] == scalar(root, "select count(*) from stg_ingest__ledger where status = 'ingested'")
    assert head["events"] == scalar(root, "select count(*) from fct_events")
    assert head["event_types_fired"] == scalar(root, "select count(distinct event_type) from fct_events")
    assert head["hypotheses_tested"] == scalar(root, "select count(*) from fct_phase2_results") \
        == scalar(root, "select hypotheses_tested from fct_phase2_run_summary")
    assert head["discoveries"] == scalar(root, "select count(*) from fct_phase2_results where is_discovery")
    assert head["promoted"] == scalar(root, "select count(*) from fct_phase2_results where promotion_track is not null")
    assert head["bridge_passed"] == scalar(root, "select count(*) from fct_bridge_evaluation where bridge_passed")
    assert head["blueprints"] == scalar(root, "select count(*) from dim_blueprints") > 0
    total, sharpe, drawdown = sql(root, "select total_return, sharpe_ratio, max_drawdown from fct_backtest_summary "
                                        "where level = 'portfolio'")[0]
    assert (head["portfolio_total_return"], head["portfolio_sharpe_ratio"], head["portfolio_max_drawdown"]) \
        == pytest.approx((total, sharpe, drawdown))
    assert head["pbo"] == pytest.approx(scalar(root, "select pbo from fct_backtest_overfitting"))
    assert head["walkforward_oos_trades"] == scalar(root, "select sum(oos_n_trades) from fct_walkforward")
    windows = report["summary"]["windows"]
    start, end = sql(root, "select holdout_start, holdout_end from dim_evaluation_windows")[0]
    assert (windows["holdout_start"], windows["holdout_end"]) == (start.isoformat(), end.isoformat())
    # the drawn drawdown reaches the summary's maximum drawdown
    facts = report["summary"]["facts"]
    assert facts["backtest"]["portfolio_drawdown_deepest"] == pytest.approx(drawdown, rel=1e-9, abs=1e-12)
    per_family = dict(sql(root, "select family, count(*) from fct_events group by family"))
    assert {f: v["events"] for f, v in facts["events"]["per_family"].items() if v["events"]} == per_family


def test_top_blueprints_are_dim_blueprints_by_holdout_t(report: dict[str, Any], planted_warehouse: Path) -> None:
    top = report["summary"]["top_blueprints"]
    rows = sql(planted_warehouse, """
        select blueprint_id, holdout_n, holdout_mean_bps, holdout_t_stat, deflated_sharpe_ratio, q_value_bh
        from dim_blueprints order by holdout_t_stat desc limit 10""")
    assert [b["blueprint_id"] for b in top] == [r[0] for r in rows]
    for blueprint, (_, n, mean, t, dsr, q) in zip(top, rows):
        assert (blueprint["holdout_n"], blueprint["holdout_mean_bps"], blueprint["holdout_t_stat"],
                blueprint["deflated_sharpe_ratio"], blueprint["q_value_bh"]) == pytest.approx((n, mean, t, dsr, q))
        backtest = sql(planted_warehouse, """
            select sum(total_return) from fct_backtest_summary where level = 'strategy'
            and strategy_id like 'blueprint:' || ? || ':%'""", [blueprint["blueprint_id"]])[0][0]
        assert sum(s["total_return"] for s in blueprint["backtest"]) == pytest.approx(backtest)


def test_event_study_curves_agree_with_the_labels(report: dict[str, Any], planted_warehouse: Path) -> None:
    """At relative bar lag + h - 1 the curve is the after-cost label of horizon h (same events, same
    cost); the planted funding drift shows as a positive curve for the temporal family."""
    root = planted_warehouse
    lag, horizon = sql(root, "select any_value(entry_lag_bars), 12 from fct_event_study_curves")[0]
    curve = dict((f, (n, m)) for f, n, m in sql(root, f"""
        select family, n, mean_return_bps from fct_event_study_curves where relative_bar = {lag + horizon - 1}"""))
    labels = sql(root, f"""
        with events as (
            select distinct family, symbol, ts, case when direction_sign = -1 then -1 else 1 end as side,
                   gross_return, round_trip_cost_bps
            from int_events__outcomes where horizon_bars = {horizon})
        select family, count(side * gross_return * 1e4 - round_trip_cost_bps),
               avg(side * gross_return * 1e4 - round_trip_cost_bps)
        from events group by family""")
    assert labels and {f for f, _, _ in labels} == set(curve)
    for family, n, mean in labels:
        assert curve[family] == pytest.approx((n, mean)), family
    assert sql(root, "select count(*) from fct_event_study_curves where relative_bar < entry_lag_bars "
                     "and mean_round_trip_cost_bps is not null")[0][0] == 0
    assert curve["TEMPORAL_STRUCTURE"][1] > 0
    families = report["summary"]["facts"]["event_study"]["families"]
    last = sql(root, """
        select family, mean_return_bps, n from fct_event_study_curves
        where relative_bar = (select max(relative_bar) from fct_event_study_curves) order by family""")
    assert sorted(families) == [f for f, _, _ in last]
    for family, mean, n in last:
        assert (families[family]["mean_return_bps_at_last_bar"], families[family]["n_at_last_bar"]) \
            == pytest.approx((mean, n)), family


def test_every_section_and_plot_is_in_the_page(report: dict[str, Any], planted_warehouse: Path) -> None:
    page = page_structure(report["html"])
    assert tuple(page.sections) == SECTIONS
    assert set(page.sections.values()) == {"ok"}, page.sections
    assert all(f["svg"] == 1 and f["figcaption"] == 1 and f["marks"] == 1 for f in page.figures), page.figures
    plots = [f["plot"] for f in page.figures]
    assert len(plots) == len(set(plots))
    families = scalar(planted_warehouse, "select count(distinct family) from fct_event_study_curves")
    assert set(REQUIRED_PLOTS) | {"run-stages"} <= set(plots)
    assert sum(p.startswith("event-study-") for p in plots) == families
    summary = report["summary"]
    assert len(page.figures) == summary["figures"] == int(page.body["data-figures-expected"])
    assert [s["key"] for s in summary["sections"]] == list(SECTIONS)
    assert sum(s["figures"] for s in summary["sections"]) == summary["figures"]


def test_the_page_references_nothing_outside_itself(report: dict[str, Any]) -> None:
    html = report["html"]
    assert "://" not in html
    assert not re.search(r"\b(src|srcset|action|xlink:href)\s*=", html, re.I)
    assert re.findall(r'href="([^"]*)"', html) and all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))
    assert not re.search(r"<(link|img|iframe|object|embed|audio|video)\b|@import|url\(|@font-face", html, re.I)
    assert html.count("<script>") == 1 and "<script src" not in html


def test_markdown_says_what_the_json_says(report: dict[str, Any]) -> None:
    md, summary = report["md"], report["summary"]
    assert md.startswith(f"# Run report {RUN_ID}\n")
    assert f"| hypotheses tested | {summary['headline']['hypotheses_tested']:,} |" in md
    assert f"| blueprints | {summary['headline']['blueprints']:,} |" in md
    table = [line for line in md.splitlines() if line.startswith("| ") and "long_drift" in line]
    assert len(table) == len(summary["top_blueprints"])
    for blueprint, line in zip(summary["top_blueprints"], table):
        assert line.startswith(f"| {blueprint['label']} |")


def test_the_run_section_comes_from_the_manifest(report: dict[str, Any], planted_warehouse: Path) -> None:
    run = report["summary"]["facts"]["run"]
    assert run["stage_seconds_total"] == pytest.approx(400.0)
    assert run["tests"] == SAMPLE_MANIFEST["tests"] and run["code_version"] == SAMPLE_MANIFEST["code_version"]
    files = write_report(planted_warehouse, "pytest-no-manifest")
    summary = json.loads(files.summary_json.read_text(encoding="utf-8"))
    page = page_structure(files.report_html.read_text(encoding="utf-8"))
    assert page.sections["run"] == "missing" and summary["facts"]["run"]["status"] == "missing"
    assert {k: v for k, v in page.sections.items() if k != "run"} == {k: "ok" for k in SECTIONS if k != "run"}
    assert "run-stages" not in [f["plot"] for f in page.figures]
    assert summary["figures"] == report["summary"]["figures"] - 1
