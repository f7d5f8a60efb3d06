"""`backtest discover-edges`: phase 1, then phase 2, then the export, on an existing warehouse.

Runs `dbt build` on the discovery models (labels, costs, the phase 1 event study, the candidate
plan, the phase 2 statistics and results, and their tests; upstream models are assumed built, e.g.
by `make demo`), then writes the phase 2 tables to
`$BACKTEST_DATA_ROOT/reports/phase2/<phase2_run_id>/` as Parquet and prints the run summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from ingest.pipeline import PipelineError, dbt, step

DISCOVERY_SELECTION = ["int_labels__forward_returns+", "int_events__outcomes+", "int_phase2__candidate_templates+", "int_costs__event_execution+"]
EXPORTED = ("fct_phase1_event_study", "fct_phase2_candidates", "fct_phase2_results", "fct_phase2_run_summary")


def export_phase2(data_root: Path) -> tuple[Path, dict[str, object]]:
    """Write the discovery tables to reports/phase2/<run id>/ and return the folder and summary."""
    warehouse = data_root / "warehouse.duckdb"
    conn = duckdb.connect(str(warehouse), read_only=True)
    cursor = conn.execute("select * from fct_phase2_run_summary")
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if not rows:
        raise PipelineError(f"{warehouse}: fct_phase2_run_summary is empty; did the discovery build run?")
    summary = dict(zip(names, rows[0]))
    folder = data_root / "reports" / "phase2" / str(summary["phase2_run_id"])[:16]
    folder.mkdir(parents=True, exist_ok=True)
    for table in EXPORTED:
        target = folder / f"{table}.parquet"
        temporary = target.with_suffix(".parquet.tmp")
        conn.execute(f"copy (select * from {table}) to '{temporary}' (format parquet, compression zstd)")
        temporary.replace(target)
    return folder, summary


def run_discovery(data_root: Path, say: Callable[[str], None] = print) -> Path:
    data_root = data_root.resolve()
    if not (data_root / "warehouse.duckdb").exists():
        raise PipelineError(f"no warehouse at {data_root / 'warehouse.duckdb'}: run `make demo` (or ingest and "
                            f"`dbt build`) first")
    with step("dbt build: labels, costs, phase 1 event study, phase 2 plan, statistics, results", say):
        dbt(["build", "-s", *DISCOVERY_SELECTION], data_root)
    with step("export: phase 1 and phase 2 tables to Parquet", say):
        folder, summary = export_phase2(data_root)
    say(f"  hypotheses planned {summary['hypotheses_planned']}, tested {summary['hypotheses_tested']} "
        f"(not evaluable {summary['hypotheses_not_evaluable']}, too few events {summary['hypotheses_too_few_events']}, "
        f"over budget {summary['hypotheses_over_budget']})")
    say(f"  discoveries {summary['discoveries_statistical']} in {summary['bh_families_selected']} of "
        f"{summary['bh_families']} BH families; survivors {summary['survivors_phase2']} "
        f"(standard {summary['survivors_standard']}, fallback_only {summary['survivors_fallback_only']}); "
        f"estimated FDR {summary['estimated_fdr']}")
    say(f"  tables: {folder}")
    return folder
