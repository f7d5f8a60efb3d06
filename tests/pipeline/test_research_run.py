"""`backtest run`, the main job, end to end on a small demo market: ingest through the real
ingester, dbt build, export, report and the run manifest; then a second run on the same warehouse,
a run while another holds the warehouse, and a run whose ingest fails."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from ingest.pipeline import DemoSettings, PipelineError
from ingest.research_run import RunRequest, RunRequestError, check_request, run_research
from ingest.run_manifest import dbt_outcome
from ingest.warehouse_lock import WarehouseBusy, warehouse_lock

REPO = Path(__file__).resolve().parents[2]
DEMO = DemoSettings(symbols=2, months=2, seed=11)


@dataclass
class DemoRun:
    root: Path
    lines: list[str]
    manifest: dict[str, object]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    root = tmp_path_factory.mktemp("research_run")
    lines: list[str] = []
    result = run_research(RunRequest(data_root=root, run_id="first", demo=DEMO), say=lines.append,
                          argv=["backtest", "run"])
    yield DemoRun(root, lines, result.manifest)


def query(root: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_shows_each_stage_with_its_time(demo_run: DemoRun) -> None:
    for stage in ("ingest", "dbt build", "export", "report"):
        assert any(line.startswith(f"==> {stage}:") for line in demo_run.lines), stage
        assert any(line.startswith(f"    {stage}: done in ") for line in demo_run.lines), stage
    assert [stage["name"] for stage in demo_run.manifest["stages"]] == ["ingest", "dbt build", "export", "report"]
    assert all(stage["status"] == "succeeded" and stage["seconds"] >= 0 for stage in demo_run.manifest["stages"])


def test_manifest_describes_the_data_code_and_tests_of_the_run(demo_run: DemoRun) -> None:
    root, manifest = demo_run.root, demo_run.manifest
    on_disk = json.loads((root / "reports" / "first" / "run_manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["status"] == "succeeded" and manifest["error"] is None
    [(first_bar, last_bar, symbols)] = query(root, "select min(ts), max(ts), list(distinct symbol order by symbol) "
                                                   "from fct_bars")
    assert manifest["symbols"] == symbols == ["BTCUSDT", "ETHUSDT"]
    assert manifest["data_window"] == {"start": first_bar.isoformat(), "end": last_bar.isoformat()}
    for table in ("fct_bars", "fct_features", "fct_events", "fct_phase2_results", "dim_blueprints",
                  "fct_backtest_pnl", "stg_ingest__ledger"):
        [(rows,)] = query(root, f"select count(*) from {table}")
        assert manifest["row_counts"][table] == rows, table
    [(spec_hash, cost_digest)] = query(root, "select ontology_spec_hash, cost_config_digest from fct_phase2_run_summary")
    assert (manifest["ontology_spec_hash"], manifest["cost_config_digest"]) == (spec_hash, cost_digest)
    assert len(spec_hash) == 64
    assert manifest["code_version"].startswith("0.1.0+")
    build = next(stage for stage in manifest["stages"] if stage["name"] == "dbt build")
    assert manifest["dbt_invocation_id"] == build["detail"]["invocation_id"]
    assert manifest["tests"]["pass"] > 200 and manifest["tests"]["fail"] == manifest["tests"]["error"] == 0
    sources = yaml.safe_load((REPO / "models" / "staging" / "__sources.yml").read_text())["sources"]
    [runs] = [source for source in sources if source["name"] == "runs"]
    read_by_dbt = {column["name"] for column in runs["tables"][0]["columns"]
                   if column.get("config", {}).get("meta", {}).get("lake_origin", "file") == "file"}
    assert read_by_dbt <= set(manifest), f"stg_runs__manifests reads keys the manifest lacks: {read_by_dbt - set(manifest)}"
    ingest = manifest["stages"][0]["detail"]
    [(ledger_rows,)] = query(root, "select sum(rows_written) from stg_ingest__ledger where status = 'ingested'")
    assert ingest["rows_written"] == ledger_rows and ingest["archives"]["quarantined"] == 0


def test_fct_run_manifest_holds_the_run(demo_run: DemoRun) -> None:
    manifest = demo_run.manifest
    [row] = query(demo_run.root, """
        select run_id, status, dbt_invocation_id, tests_passed, tests_failed, fct_bars_rows, code_version, scope,
               source, stages
        from fct_run_manifest where run_id = 'first'""")
    assert row == ("first", "succeeded", manifest["dbt_invocation_id"], manifest["tests"]["pass"], 0,
                   manifest["row_counts"]["fct_bars"], manifest["code_version"], "all", "demo market", 4)
    stages = query(demo_run.root, "select stage_name, seconds from fct_run_stages where run_id = 'first' "
                                  "order by stage_order")
    assert stages == [(stage["name"], stage["seconds"]) for stage in manifest["stages"]]


def test_report_and_exports_are_written_beside_the_manifest(demo_run: DemoRun) -> None:
    folder = demo_run.root / "reports" / "first"
    for name in ("summary.json", "summary.md", "report.html", "blueprints.jsonl", "fct_phase2_results.parquet",
                 "fct_backtest_summary.parquet", "fct_alpha_bundle_summary.parquet", "run_manifest.json"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "summary.json").read_text())["run_id"] == "first"


def test_second_run_reuses_the_archive_and_keeps_every_run(demo_run: DemoRun) -> None:
    root = demo_run.root
    lake = sorted((p, p.stat().st_mtime_ns) for p in (root / "lake" / "raw").rglob("*.parquet"))
    lines: list[str] = []
    second = run_research(RunRequest(data_root=root, run_id="second", demo=DEMO), say=lines.append)
    assert any("reusing" in line for line in lines)
    assert sorted((p, p.stat().st_mtime_ns) for p in (root / "lake" / "raw").rglob("*.parquet")) == lake
    assert second.manifest["stages"][0]["detail"]["archives"]["ingested"] == 0
    assert second.manifest["stages"][1]["detail"]["full_refresh"] is False  # nothing new: incremental
    assert second.manifest["row_counts"]["fct_bars"] == demo_run.manifest["row_counts"]["fct_bars"]
    assert query(root, "select run_id from fct_run_manifest order by started_at") == [("first",), ("second",)]
    with pytest.raises(RunRequestError, match="already exists"):
        run_research(RunRequest(data_root=root, run_id="first", demo=DEMO), say=lambda line: None)


def test_a_second_writer_is_refused_and_changes_nothing(demo_run: DemoRun) -> None:
    root = demo_run.root
    before = digest(root / "warehouse.duckdb")
    reports = sorted(p.name for p in (root / "reports").iterdir())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from ingest.warehouse_lock import "
         "warehouse_lock\nwith warehouse_lock(Path(sys.argv[1]), 'holder-run'):\n    print('held', flush=True)\n"
         "    time.sleep(120)", str(root)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = subprocess.run([str(Path(sys.executable).with_name("backtest")), "run", "--data-root", str(root),
                               "--run-id", "refused", "--demo-symbols", "2", "--demo-months", "2", "--seed", "11"],
                              capture_output=True, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "BACKTEST_DATA_ROOT": str(root)})
        assert done.returncode == 2, done.stderr
        assert "in use by run holder-run" in done.stderr and "Nothing was changed" in done.stderr
        with pytest.raises(WarehouseBusy, match="holder-run"):
            with warehouse_lock(root, "in-process"):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert digest(root / "warehouse.duckdb") == before
    assert sorted(p.name for p in (root / "reports").iterdir()) == reports
    # The holder was killed, not shut down: the operating system released its lock.
    with warehouse_lock(root, "after-holder"):
        assert query(root, "select count(*) from fct_run_manifest")[0][0] >= 1


def test_a_failed_stage_leaves_a_failed_manifest(tmp_path: Path) -> None:
    request = RunRequest(data_root=tmp_path, source="http://127.0.0.1:9", symbols=("BTCUSDT",),
                         start=date(2024, 3, 1), end=date(2024, 3, 2),
                         run_id="unreachable")
    with pytest.raises(PipelineError, match="run unreachable failed"):
        run_research(request, say=lambda line: None)
    manifest = json.loads((tmp_path / "reports" / "unreachable" / "run_manifest.json").read_text())
    assert manifest["status"] == "failed" and "127.0.0.1:9" in manifest["error"]
    assert [(stage["name"], stage["status"]) for stage in manifest["stages"]] == [("ingest", "failed")]


@pytest.mark.parametrize("request_args, message", [
    ({"source": "https://data.binance.vision"}, "needs --symbols, --start and --end"),
    ({"run_id": "../escape"}, "run id"),
    ({"scope": "everything"}, "scope"),
])
def test_bad_requests_are_refused_before_anything_runs(tmp_path: Path, request_args: dict, message: str) -> None:
    with pytest.raises(RunRequestError, match=message):
        check_request(RunRequest(data_root=tmp_path, **request_args))
    assert not any(tmp_path.iterdir())


def test_dbt_outcome_counts_tests_and_failures(tmp_path: Path) -> None:
    results = {
        "metadata": {"invocation_id": "abc", "dbt_version": "1.11.0"}, "elapsed_time": 3.5,
        "results": [{"unique_id": "model.p.a", "status": "success"}, {"unique_id": "model.p.b", "status": "error"},
                    {"unique_id": "test.p.t1", "status": "pass"}, {"unique_id": "test.p.t2", "status": "fail"},
                    {"unique_id": "unit_test.p.u", "status": "pass"}, {"unique_id": "test.p.t3", "status": "skipped"}]}
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps(results))
    outcome = dbt_outcome(path, "build")
    assert outcome.invocation_id == "abc" and outcome.elapsed_seconds == 3.5
    assert outcome.models == {"success": 1, "error": 1}
    assert outcome.tests == {"pass": 2, "fail": 1, "warn": 0, "error": 0, "skipped": 1}
    assert outcome.failed_nodes == ("model.p.b", "test.p.t2")


def test_archives_for_days_already_built_force_a_full_refresh(tmp_path: Path) -> None:
    from ingest.ingest_run import ArchiveOutcome, IngestReport
    from ingest.plan import ArchiveRef
    from ingest.research_run import rewritten_history

    warehouse = tmp_path / "warehouse.duckdb"
    conn = duckdb.connect(str(warehouse))
    conn.execute("create table fct_bars as select * from (values ('BTCUSDT', timestamptz '2024-04-30 23:55:00+00'), "
                 "('ETHUSDT', timestamptz '2024-03-31 23:55:00+00')) as t(symbol, ts)")
    conn.close()

    def outcome(symbol: str, period: str, status: str = "ingested") -> ArchiveOutcome:
        return ArchiveOutcome(ArchiveRef("um", "fundingRate", symbol, None, period), status)

    new_days = IngestReport([outcome("BTCUSDT", "2024-05-01"), outcome("ETHUSDT", "2024-04-01"),
                             outcome("SOLUSDT", "2024-03"), outcome("BTCUSDT", "2024-04", "unchanged")], 1.0)
    assert rewritten_history([new_days], warehouse) == []  # only new days, a new symbol, an unchanged file
    late = IngestReport([outcome("BTCUSDT", "2024-04"), outcome("ETHUSDT", "2024-03-31"),
                         outcome("ETHUSDT", "2024-04-02")], 1.0)
    assert {path.rsplit("/", 1)[-1] for path in rewritten_history([late], warehouse)} == {
        "BTCUSDT-fundingRate-2024-04.zip", "ETHUSDT-fundingRate-2024-03-31.zip"}
    assert rewritten_history([late], tmp_path / "absent.duckdb") == []  # a first build is full anyway
