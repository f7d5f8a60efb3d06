"""Phase 1 and phase 2 on the shared demo warehouse: labels enter after the event bar and are NULL
through gaps, funding is never zero-filled, the candidate plan lists every hypothesis with a status,
the SQL q-values equal scipy's BH/BY per family, the run summary adds up, and selection fails closed."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.stats import false_discovery_control

from tests.dbt_runner import run_dbt
from tests.spec_copy import edited_spec_copy


pytestmark = pytest.mark.slow


def connect(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)


def test_labels_enter_after_the_event_and_exit_after_the_horizon(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    [(bad_entry, bad_exit, rows)] = conn.execute("""
        select count_if(entry_ts <> ts + to_minutes(5 * entry_lag_bars)),
               count_if(exit_ts <> entry_ts + to_minutes(5 * horizon_bars)),
               count(*)
        from int_labels__forward_returns where entry_ts is not null and exit_ts is not null""").fetchall()
    assert rows > 0 and bad_entry == 0 and bad_exit == 0
    [(lag,)] = conn.execute("select min(entry_lag_bars) from int_labels__forward_returns").fetchall()
    assert lag >= 1


def test_labels_are_null_when_the_window_touches_a_gap(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    [(leaks,)] = conn.execute("""
        select count(*) from int_labels__forward_returns l
        where l.gross_return is not null and exists (
            select 1 from fct_bars b where b.symbol = l.symbol and b.is_gap
              and b.ts >= l.entry_ts and b.ts < l.exit_ts)""").fetchall()
    assert leaks == 0
    [(touching,)] = conn.execute("select count_if(window_touches_gap and gross_return is null) "
                                 "from int_labels__forward_returns").fetchall()
    assert touching > 0, "the demo's maintenance gaps should touch some label windows"


def test_gross_return_matches_bar_prices(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    [(worst,)] = conn.execute("""
        select max(abs(l.gross_return - (x.close / e.open - 1)))
        from int_labels__forward_returns l
        join fct_bars e on e.symbol = l.symbol and e.ts = l.entry_ts
        join fct_bars x on x.symbol = l.symbol and x.available_at = l.exit_ts
        where l.gross_return is not null""").fetchall()
    assert worst < 1e-12


def test_funding_sums_the_settlements_inside_the_window(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    [(worst, known, unknown)] = conn.execute("""
        select max(abs(l.funding_rate_sum - coalesce((
                   select sum(f.funding_rate) from stg_binance__funding f
                   where f.symbol = l.symbol and f.settlement_time > l.entry_ts
                     and f.settlement_time <= l.exit_ts), 0))),
               count_if(l.funding_known), count_if(not l.funding_known)
        from int_labels__forward_returns l where l.horizon_bars = 288""").fetchall()
    assert known > 0 and worst < 1e-12
    [(zero_filled,)] = conn.execute("select count_if(not funding_known and funding_rate_sum is not null) "
                                    "from int_labels__forward_returns").fetchall()
    assert zero_filled == 0
    print(f"288-bar labels: funding known {known}, unknown {unknown}")


def test_phase1_event_study_covers_every_fired_event_type(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    fired = {r[0] for r in conn.execute("""
        select distinct event_type from fct_events, dim_evaluation_windows w
        where ts >= w.discovery_start and ts < w.discovery_end""").fetchall()}
    studied = {r[0] for r in conn.execute("select distinct event_type from fct_phase1_event_study").fetchall()}
    assert fired == studied
    [(paths,)] = conn.execute("select count(*) from fct_phase1_event_study where len(mean_path_bps) > 0 "
                              "and list_contains(path_offsets_bars, 0)").fetchall()
    assert paths > 0
    [(at_zero,)] = conn.execute("select max(abs(mean_path_bps[list_position(path_offsets_bars, 0)])) "
                                "from fct_phase1_event_study").fetchall()
    assert at_zero == 0


def test_candidate_plan_lists_every_hypothesis_with_a_status(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    [(templates,)] = conn.execute("select count(*) from int_phase2__candidate_templates").fetchall()
    [(symbols,)] = conn.execute("select count(distinct symbol) from fct_event_flags").fetchall()
    statuses = dict(conn.execute("select plan_status, count(*) from fct_phase2_candidates group by 1").fetchall())
    assert sum(statuses.values()) == templates * symbols
    assert set(statuses) <= {"testable", "not_evaluable", "too_few_events", "over_budget"}
    assert statuses.get("testable", 0) > 0 and statuses.get("too_few_events", 0) > 0
    [(unexplained,)] = conn.execute("select count(*) from fct_phase2_candidates where plan_status <> 'testable' "
                                    "and plan_reason is null").fetchall()
    assert unexplained == 0
    [(hashes,)] = conn.execute("select count(distinct candidate_plan_hash) from fct_phase2_candidates").fetchall()
    assert hashes == 1
    summary = conn.execute("select hypotheses_planned, hypotheses_tested from fct_phase2_run_summary").fetchall()[0]
    assert summary == (templates * symbols, statuses["testable"])
    print(f"plan: {statuses}")


def test_sql_q_values_equal_scipy_per_family(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    rows = conn.execute("select bh_group, p_value, q_bh, q_by from fct_phase2_results where p_value is not null "
                        "order by bh_group").fetchall()
    assert rows
    groups: dict[str, list[tuple[float, float, float]]] = {}
    for group, p, q_bh, q_by in rows:
        groups.setdefault(group, []).append((p, q_bh, q_by))
    for group, values in groups.items():
        p = np.array([v[0] for v in values])
        np.testing.assert_allclose([v[1] for v in values], false_discovery_control(p, method="bh"), rtol=1e-9,
                                   err_msg=group)
        np.testing.assert_allclose([v[2] for v in values], false_discovery_control(p, method="by"), rtol=1e-9,
                                   err_msg=group)
    print(f"{len(rows)} hypotheses with a p-value in {len(groups)} BH families")


def test_summary_adds_up(demo_warehouse: Path) -> None:
    conn = connect(demo_warehouse)
    summary = dict(zip([d[0] for d in conn.execute("select * from fct_phase2_run_summary").description],
                       conn.execute("select * from fct_phase2_run_summary").fetchall()[0]))
    [(discoveries, survivors)] = conn.execute("select count_if(is_discovery), count_if(is_survivor) "
                                              "from fct_phase2_results").fetchall()
    assert summary["discoveries_statistical"] == discoveries and summary["survivors_phase2"] == survivors
    assert survivors <= discoveries
    assert summary["survivors_standard"] + summary["survivors_fallback_only"] == survivors
    print({k: summary[k] for k in ("hypotheses_planned", "hypotheses_tested", "discoveries_statistical",
                                   "survivors_phase2", "estimated_fdr", "bh_families", "bh_families_selected")})


def test_selection_fails_closed_on_a_changed_cost_file(demo_warehouse: Path, tmp_path: Path) -> None:
    """Results computed under one cost file are never promoted once the cost file changes: the
    results mart built under a new digest rejects every row carrying the old one."""
    spec = edited_spec_copy(tmp_path / "spec", "costs.yaml",
                            lambda costs: costs["fees"].update(taker_bps=costs["fees"]["taker_bps"] + 0.5))
    root = tmp_path / "warehouse"
    shutil.copytree(demo_warehouse, root, ignore=shutil.ignore_patterns("target", "logs"))
    done = run_dbt(["run", "-s", "fct_phase2_results", "fct_phase2_run_summary"], root, spec_dir=spec)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    conn = connect(root)
    [(passing, survivors, rows)] = conn.execute("select count_if(gate_fail_closed), count_if(is_survivor), count(*) "
                                                "from fct_phase2_results").fetchall()
    assert rows > 0 and passing == 0 and survivors == 0
