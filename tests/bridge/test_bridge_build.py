"""Bridge evaluation and blueprints on the planted warehouse (tests/demo_warehouse.py): the windows
are separated by the embargo, the holdout re-measurement and its cost stress recompute from the
holdout events, the deflated Sharpe ratio matches an independent implementation, an effect planted
only in the discovery window is rejected out of sample while a persistent one becomes a blueprint,
selection fails closed, and the blueprints reach JSONL, Parquet and a SQLAlchemy client intact."""

from __future__ import annotations

import json
import math
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from ingest.blueprint_export import export_blueprints, load_contract
from tests.dbt_runner import run_concurrently, run_dbt
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]
BRIDGE_MODELS = ["int_bridge__candidate_holdout_events+"]

pytestmark = pytest.mark.slow


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)


def query(root: Path, sql: str) -> list[tuple]:
    """Rows of `sql`, with the connection closed again (dbt writes to the same file next)."""
    conn = connect(root)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def warehouse_copy(source: Path, target: Path) -> Path:
    target.mkdir()
    shutil.copy(source / "warehouse.duckdb", target / "warehouse.duckdb")
    (target / "lake").symlink_to(source / "lake")
    return target


def spec_value(file: str, *keys: str) -> object:
    value = yaml.safe_load((REPO / "spec" / file).read_text())
    for key in keys:
        value = value[key]
    return value


def test_windows_are_separated_by_an_embargo_longer_than_any_label(planted_warehouse: Path) -> None:
    conn = connect(planted_warehouse)
    rows = conn.execute("select discovery_start, discovery_end, holdout_start, holdout_end, embargo_bars, "
                        "bar_seconds from dim_evaluation_windows").fetchall()
    assert len(rows) == 1
    d_start, d_end, h_start, h_end, embargo, bar_seconds = rows[0]
    lag = spec_value("global_defaults.yaml", "discovery", "entry_lag_bars")
    longest = max(spec_value("global_defaults.yaml", "discovery", "horizons_bars"))
    assert d_start < d_end < h_start < h_end
    assert h_start - d_end == timedelta(seconds=embargo * bar_seconds)
    assert embargo >= lag + longest
    [(outside_discovery, latest_exit)] = conn.execute(f"""
        select count(*) filter (where ts < '{d_start}' or ts >= '{d_end}'),
               max(ts + to_seconds({bar_seconds} * ({lag} + horizon_bars)))
        from int_phase2__event_samples""").fetchall()
    assert outside_discovery == 0
    assert latest_exit <= h_start, "a discovery label reaches into the holdout"
    [(outside_holdout, n_holdout)] = conn.execute(f"""
        select count(*) filter (where ts < '{h_start}' or ts >= '{h_end}'), count(*)
        from int_bridge__holdout_samples""").fetchall()
    assert outside_holdout == 0 and n_holdout > 0
    [(embargoed,)] = conn.execute(f"""
        select count(*) from int_bridge__candidate_holdout_events
        where ts < '{h_start}'""").fetchall()
    assert embargoed == 0
    [(phase1_outside,)] = conn.execute(f"""
        select count(*) from fct_phase1_event_study
        where discovery_start <> '{d_start}' or discovery_end <> '{d_end}'""").fetchall()
    assert phase1_outside == 0
    for table in ("fct_phase2_results", "fct_bridge_evaluation"):
        [(mismatch, n)] = conn.execute(f"""
            select count(*) filter (where discovery_start <> '{d_start}' or discovery_end <> '{d_end}'
                                    or holdout_start <> '{h_start}' or holdout_end <> '{h_end}'
                                    or embargo_bars <> {embargo}), count(*)
            from {table}""").fetchall()
        assert n > 0 and mismatch == 0, table


def test_dbt_vars_pin_the_windows_and_an_empty_window_is_refused(planted_warehouse: Path, tmp_path: Path) -> None:
    root = warehouse_copy(planted_warehouse, tmp_path / "copy")
    done = run_dbt(["run", "-s", "dim_evaluation_windows", "--vars",
                    '{"holdout_start": "2024-05-01 00:00:00+00", "holdout_end": "2024-06-01 00:00:00+00"}'], root)
    assert done.returncode == 0, done.stdout[-3000:]
    [(d_end, h_start, h_end, source)] = query(
        root, "select discovery_end, holdout_start, holdout_end, window_source from dim_evaluation_windows")
    assert (h_start.isoformat(), h_end.isoformat(), source) == ("2024-05-01T00:00:00+00:00",
                                                                "2024-06-01T00:00:00+00:00", "vars")
    assert h_start - d_end == timedelta(minutes=5 * 576)
    done = run_dbt(["run", "-s", "dim_evaluation_windows", "--vars", '{"holdout_start": "2024-03-02 00:00:00+00"}'],
                   root)
    assert done.returncode != 0
    assert "discovery window is empty" in done.stdout


def test_holdout_statistics_recompute_from_the_holdout_events(planted_warehouse: Path) -> None:
    conn = connect(planted_warehouse)
    multipliers = {1.0, *spec_value("gates.yaml", "gate_v1_bridge", "cost_stress_multipliers")}
    min_bps = spec_value("gates.yaml", "gate_v1_bridge", "min_after_cost_expectancy_bps")
    min_events = spec_value("gates.yaml", "gate_v1_bridge", "min_holdout_events")
    rows = conn.execute("""
        select stress.candidate_id, stress.cost_multiplier, stress.holdout_n, stress.holdout_mean_bps,
               stress.holdout_n_deoverlapped, stress.stress_passed, recomputed.n, recomputed.mean_bps
        from fct_bridge_cost_stress stress
        left join (
            select candidate_id, multiplier, count(value) as n, avg(value) as mean_bps
            from (select events.candidate_id, levels.multiplier,
                         events.side_sign * events.gross_return * 1e4 - events.round_trip_cost_bps * levels.multiplier
                         - events.side_sign * case when events.funding_known then events.funding_rate_sum end * 1e4
                         as value
                  from int_bridge__candidate_holdout_events events
                  cross join (select distinct cost_multiplier as multiplier from fct_bridge_cost_stress) levels)
            group by candidate_id, multiplier
        ) recomputed on recomputed.candidate_id = stress.candidate_id and recomputed.multiplier = stress.cost_multiplier
        """).fetchall()
    assert rows and {row[1] for row in rows} == multipliers
    for candidate, multiplier, n, mean, n_dedup, passed, n_check, mean_check in rows:
        assert n == (n_check or 0), candidate
        if n:
            assert mean == pytest.approx(mean_check, abs=1e-9)
        assert passed == (n_dedup >= min_events and mean is not None and mean >= min_bps)
    [(promoted,)] = conn.execute("select count(*) from fct_phase2_results where promotion_track is not null").fetchall()
    [(evaluated,)] = conn.execute("select count(*) from fct_bridge_evaluation").fetchall()
    assert promoted == evaluated > 0


def _independent_dsr(returns: np.ndarray, n_obs: int, n_trials: int, trial_variance: float) -> float:
    """Bailey & Lopez de Prado (2014), written out from ../shared/reference/peers_and_methods.md 5.4."""
    gamma = 0.5772156649015329
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns, bias=True)
    kurt = stats.kurtosis(returns, fisher=False, bias=True)
    sr0 = math.sqrt(trial_variance) * ((1 - gamma) * stats.norm.ppf(1 - 1 / n_trials)
                                       + gamma * stats.norm.ppf(1 - 1 / (n_trials * math.e)))
    return float(stats.norm.cdf((sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)))


def test_deflated_sharpe_uses_the_runs_trial_count_and_matches_an_independent_implementation(
        planted_warehouse: Path) -> None:
    conn = connect(planted_warehouse)
    [(n_trials,)] = conn.execute("select count(*) from fct_phase2_candidates where plan_status = 'testable'").fetchall()
    [(trial_variance,)] = conn.execute("select var_samp(mean_bps / std_bps) from fct_phase2_results "
                                       "where std_bps > 0").fetchall()
    rows = conn.execute("""
        select candidate_id, holdout_n_deoverlapped, deflated_sharpe_ratio, n_trials
        from fct_bridge_cost_stress where cost_multiplier = 1 and holdout_n_deoverlapped >= 2""").fetchall()
    assert rows
    for candidate, n_obs, dsr, trials in rows:
        assert trials == n_trials
        values = np.array([r[0] for r in conn.execute("""
            select side_sign * gross_return * 1e4 - round_trip_cost_bps - side_sign * funding_rate_sum * 1e4
            from int_bridge__candidate_holdout_events
            where candidate_id = ? and gross_return is not null and funding_known and side_sign is not null""",
            [candidate]).fetchall()])
        assert dsr == pytest.approx(_independent_dsr(values, n_obs, n_trials, trial_variance), abs=1e-9), candidate


def test_an_effect_planted_only_in_the_discovery_window_fails_out_of_sample(planted_warehouse: Path) -> None:
    conn = connect(planted_warehouse)
    cell = """select r.promotion_track, b.bridge_passed, b.bridge_reason, b.holdout_mean_bps
              from fct_phase2_results r left join fct_bridge_evaluation b using (candidate_id)
              where r.event_type = 'FUNDING_TIMESTAMP_EVENT' and r.rule_template = 'long_drift'
                and r.horizon_bars = 12 and r.state_name = 'all' and r.symbol = ?"""
    [(track, passed, reason, holdout_mean)] = conn.execute(cell, ["SOLUSDT"]).fetchall()
    print(f"SOLUSDT (drift only in the first 60% of the data): phase 2 {track}, bridge: {reason}")
    assert track == "standard" and passed is False and reason != "passed"
    [(track, passed, reason, holdout_mean)] = conn.execute(cell, ["BNBUSDT"]).fetchall()
    print(f"BNBUSDT (persistent drift): phase 2 {track}, bridge: {reason}, holdout mean {holdout_mean:.1f} bps")
    assert track == "standard" and passed is True
    [(blueprints_sol, blueprints_bnb)] = conn.execute("""
        select count(*) filter (where list_contains(symbol_scope, 'SOLUSDT')),
               count(*) filter (where list_contains(symbol_scope, 'BNBUSDT') and event_type = 'FUNDING_TIMESTAMP_EVENT'
                                and exit_horizon_bars = 12 and state_name = 'all')
        from dim_blueprints""").fetchall()
    assert blueprints_sol == 0 and blueprints_bnb == 1


def _bridge_rebuild(root: Path, spec_dir: Path | None = None) -> None:
    done = run_dbt(["build", "-s", *BRIDGE_MODELS], root, spec_dir=spec_dir)
    assert done.returncode == 0, done.stdout[-4000:]


def _reasons(root: Path) -> list[tuple[str, bool, str]]:
    return query(root, "select candidate_id, bridge_passed, bridge_reason from fct_bridge_evaluation order by 1")


def test_selection_fails_closed(planted_warehouse: Path, tmp_path: Path) -> None:
    """One candidate loses its cost digest; then the cost config changes; then an event definition
    changes. Each case is rebuilt on its own copy of the same warehouse, the three side by side."""
    missing = warehouse_copy(planted_warehouse, tmp_path / "digest_missing")
    conn = duckdb.connect(str(missing / "warehouse.duckdb"))
    [(victim,)] = conn.execute("select candidate_id from dim_blueprints order by candidate_id limit 1").fetchall()
    conn.execute("update fct_phase2_results set cost_config_digest = null where candidate_id = ?", [victim])
    conn.close()
    costs_root, events_root = (warehouse_copy(missing, tmp_path / name) for name in ("costs_changed", "events_changed"))
    costs_spec = edited_spec_copy(tmp_path / "spec_costs", "costs.yaml",
                              lambda costs: costs["fees"].update(taker_bps=costs["fees"]["taker_bps"] + 1))
    events_spec = edited_spec_copy(tmp_path / "spec_events", "events/VOL_SHOCK.yaml",
                               lambda event: event.update(cooldown_bars=event["cooldown_bars"] + 1))
    run_concurrently(lambda: _bridge_rebuild(missing), lambda: _bridge_rebuild(costs_root, costs_spec),
                     lambda: _bridge_rebuild(events_root, events_spec))

    reasons = {candidate: (passed, reason) for candidate, passed, reason in _reasons(missing)}
    assert reasons[victim][0] is False and "cost_config_digest missing" in reasons[victim][1]
    blueprints = {r[0] for r in query(missing, "select candidate_id from dim_blueprints")}
    assert victim not in blueprints and blueprints, "only the candidate without a digest is dropped"

    assert all(not passed and reason.startswith("fail closed: cost_config_digest")
               for _, passed, reason in _reasons(costs_root))
    assert query(costs_root, "select count(*) from dim_blueprints") == [(0,)]

    rows = _reasons(events_root)
    assert not any(passed for _, passed, _ in rows)
    assert all(reason.startswith("fail closed: ontology_spec_hash") for candidate, _, reason in rows if candidate != victim)
    assert query(events_root, "select count(*) from dim_blueprints") == [(0,)]


def test_blueprints_export_to_jsonl_and_parquet_valid_against_the_contract(planted_warehouse: Path,
                                                                            tmp_path: Path) -> None:
    conn = connect(planted_warehouse)
    [(expected,)] = conn.execute("select count(*) from dim_blueprints").fetchall()
    assert expected > 0
    export = export_blueprints(planted_warehouse / "warehouse.duckdb", tmp_path / "reports")
    validator = jsonschema.Draft202012Validator(load_contract())
    lines = export.jsonl_path.read_text().splitlines()
    assert len(lines) == expected == export.row_count
    for line in lines:
        row = json.loads(line)
        assert not list(validator.iter_errors(row)), row["blueprint_id"]
        assert row["holdout_start"] > row["discovery_end"]
    table = pq.read_table(export.parquet_path)
    assert table.num_rows == expected
    assert table.column_names == load_contract()["required"]
    ids = sorted(r[0] for r in conn.execute("select blueprint_id from dim_blueprints").fetchall())
    assert sorted(table.column("blueprint_id").to_pylist()) == ids


def test_bi_clients_read_dim_blueprints_with_documented_columns(planted_warehouse: Path, tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy", reason="dev extra: pip install -e '.[dev]'")
    pytest.importorskip("duckdb_engine", reason="dev extra: pip install -e '.[dev]'")
    # A BI tool is its own process; a copy keeps its connection settings apart from this process's.
    database = tmp_path / "warehouse.duckdb"
    shutil.copy(planted_warehouse / "warehouse.duckdb", database)
    engine = sqlalchemy.create_engine(f"duckdb:///{database}", connect_args={"read_only": True})
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("select * from dim_blueprints")).mappings().all()
        columns = {c["name"]: c["type"] for c in sqlalchemy.inspect(connection).get_columns("dim_blueprints")}
    assert rows and set(rows[0]) == set(load_contract()["required"])
    assert isinstance(columns["holdout_mean_bps"], sqlalchemy.Float)
    assert isinstance(columns["exit_horizon_bars"], sqlalchemy.Integer)
    assert isinstance(columns["holdout_start"], sqlalchemy.DateTime)
    engine.dispose()
    conn = connect(planted_warehouse)
    for table in ("dim_blueprints", "fct_bridge_evaluation", "fct_bridge_cost_stress", "dim_evaluation_windows"):
        undocumented = [r[0] for r in conn.execute(
            "select column_name from duckdb_columns() where table_name = ? and comment is null", [table]).fetchall()]
        assert undocumented == [], f"{table}: columns without a description: {undocumented}"
        [(comment,)] = conn.execute("select comment from duckdb_tables() where table_name = ?", [table]).fetchall()
        assert comment, table


def test_discovery_export_writes_every_table_beside_the_blueprints(planted_warehouse: Path, tmp_path: Path) -> None:
    from ingest.discovery_export import EXPORTED, export_discovery

    root = warehouse_copy(planted_warehouse, tmp_path / "copy")
    folder, summary = export_discovery(root)
    assert folder == root / "reports" / str(summary["phase2_run_id"])
    assert summary["blueprints"] > 0 and summary["bridge_passed"] == summary["blueprints"]
    for table in EXPORTED:
        [(rows,)] = query(root, f"select count(*) from {table}")
        assert pq.read_table(folder / f"{table}.parquet").num_rows == rows, table
    assert (folder / "blueprints.jsonl").read_text().count("\n") == summary["blueprints"]
