"""The discovery export of a run: the discovery, bridge and backtest tables as Parquet and the
blueprints as blueprints.jsonl + blueprints.parquet in `reports/<run_id>/`, each blueprint row
validated against spec/contracts/blueprint.v1.schema.json first (nothing is written when one row
violates it). `DISCOVERY_SELECTION` is what `backtest discover-edges` rebuilds: evaluation windows,
labels, costs, the phase 1 event study, the candidate plan, the phase 2 statistics and results, the
holdout re-measurement under cost stress, dim_blueprints, and their tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from ingest.blueprint_export import export_blueprints
from ingest.pipeline import PipelineError

DISCOVERY_SELECTION = ["dim_evaluation_windows+", "int_labels__forward_returns+", "int_events__outcomes+",
                       "int_phase2__candidate_templates+", "int_costs__event_execution+"]
EXPORTED = ("dim_evaluation_windows", "fct_phase1_event_study", "fct_phase2_candidates", "fct_phase2_results",
            "fct_phase2_run_summary", "fct_bridge_cost_stress", "fct_bridge_evaluation")
BACKTEST_EXPORTED = ("fct_backtest_summary", "fct_backtest_halts", "fct_backtest_overfitting", "fct_robustness",
                     "fct_walkforward", "fct_backtest_feature_drift")
ALPHA_EXPORTED = ("dim_alpha_signals", "fct_alpha_bundle_summary", "fct_alpha_factor_returns",
                  "fct_alpha_signal_correlations")


def run_summary(data_root: Path) -> dict[str, object]:
    """The one row of fct_phase2_run_summary with bridge counts beside it."""
    warehouse = data_root / "warehouse.duckdb"
    conn = duckdb.connect(str(warehouse), read_only=True)
    cursor = conn.execute("""
        select summary.*, bridge.candidates_evaluated, bridge.bridge_passed, blueprints.blueprints
        from fct_phase2_run_summary summary
        cross join (select count(*) as candidates_evaluated, count(*) filter (where bridge_passed) as bridge_passed
                    from fct_bridge_evaluation) bridge
        cross join (select count(*) as blueprints from dim_blueprints) blueprints""")
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if not rows:
        raise PipelineError(f"{warehouse}: fct_phase2_run_summary is empty; did the discovery build run?")
    return dict(zip(names, rows[0]))


def export_discovery(data_root: Path, run_id: str | None = None,
                     tables: tuple[str, ...] = EXPORTED) -> tuple[Path, dict[str, object]]:
    """Write `tables` as Parquet and the validated blueprints to reports/<run id>/ (the phase 2 run
    id unless `run_id` names the folder)."""
    summary = run_summary(data_root)
    folder_id = run_id or str(summary["phase2_run_id"])
    blueprints = export_blueprints(data_root / "warehouse.duckdb", data_root / "reports", run_id=folder_id)
    conn = duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True)
    try:
        present = {name for (name,) in conn.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
        for table in tables:
            if table not in present:
                continue
            target = blueprints.directory / f"{table}.parquet"
            temporary = target.with_suffix(".parquet.tmp")
            conn.execute(f"copy (select * from {table}) to '{temporary}' (format parquet, compression zstd)")
            temporary.replace(target)
    finally:
        conn.close()
    return blueprints.directory, summary


def describe_discovery(summary: dict[str, object], folder: Path, say: Callable[[str], None] = print) -> None:
    """The discovery outcome in five lines: windows, hypotheses, discoveries, bridge, where the files are."""
    say(f"  windows: discovery {summary['discovery_start']} .. {summary['discovery_end']}, embargo "
        f"{summary['embargo_bars']} bars, holdout {summary['holdout_start']} .. {summary['holdout_end']}")
    say(f"  hypotheses planned {summary['hypotheses_planned']}, tested {summary['hypotheses_tested']} "
        f"(not evaluable {summary['hypotheses_not_evaluable']}, too few events {summary['hypotheses_too_few_events']}, "
        f"over budget {summary['hypotheses_over_budget']})")
    say(f"  discoveries {summary['discoveries_statistical']} in {summary['bh_families_selected']} of "
        f"{summary['bh_families']} BH families; survivors {summary['survivors_phase2']} "
        f"(standard {summary['survivors_standard']}, fallback_only {summary['survivors_fallback_only']}); "
        f"estimated FDR {summary['estimated_fdr']}")
    say(f"  bridge: {summary['bridge_passed']} of {summary['candidates_evaluated']} promoted candidates pass on the "
        f"holdout; blueprints {summary['blueprints']}")
    say(f"  tables and blueprints: {folder}")
