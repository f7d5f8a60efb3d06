"""Discovery calibrated on demo markets: with no planted effect and zero costs, runs rarely make
any standard-track discovery (at most the nominal q plus sampling error over seeds); with planted
effects, the planted cells are found. The numbers are printed (run with -s to see them)."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.dbt_runner import run_concurrently
from tests.demo_warehouse import PLANTED_DRIFTS, build_demo_warehouse
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]
NULL_SEEDS = (21, 22, 23)
NULL_EFFECTS = {"version": 1, "effects": [], "nulls": [{
    "name": "wednesday_us_open", "description": "Calendar noise; the bar at 13:30 UTC on Wednesdays.",
    "condition": {"kind": "clock", "weekday": 2, "hour": 13, "minute": 30}, "horizon_bars": 12, "symbols": "all"}]}
POWER_CELL = ("FUNDING_TIMESTAMP_EVENT", "long_drift", 12)
"""The hypothesis that trades the planted drifts of the planted warehouse (tests/demo_warehouse.py)."""
MIN_TRUE_DRIFT_BPS = 1.0
"""A cell whose events carry less planted drift than this (side-adjusted, averaged) is a null."""


pytestmark = pytest.mark.slow


def _zero_costs(costs: dict[str, Any]) -> None:
    costs.update(execution_mode="maker")
    costs["fees"] = {"taker_bps": 0.0, "maker_bps": 0.0}
    costs["spread"] = {"floor_bps": 0.0}
    costs["impact"]["coefficient_bps"] = 0.0


def _summary(root: Path) -> dict[str, object]:
    conn = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    cursor = conn.execute("select * from fct_phase2_run_summary")
    return dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))


def test_null_markets_rarely_discover_anything(tmp_path: Path) -> None:
    effects = tmp_path / "null_effects.yaml"
    effects.write_text(yaml.safe_dump(NULL_EFFECTS))
    spec = edited_spec_copy(tmp_path / "spec", "costs.yaml", _zero_costs)
    roots = run_concurrently(*(partial(build_demo_warehouse, tmp_path / f"seed_{seed}", symbols=2, months=2,
                                       seed=seed, effects=effects, spec_dir=spec, select=("+fct_phase2_run_summary",))
                               for seed in NULL_SEEDS))
    runs = []
    for seed, root in zip(NULL_SEEDS, roots):
        summary = _summary(root)
        runs.append(summary)
        print(f"null seed {seed}: tested {summary['hypotheses_tested']}, discoveries "
              f"{summary['discoveries_statistical']}, standard-track {summary['survivors_standard']}")
    share = sum(1 for s in runs if s["survivors_standard"]) / len(runs)
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / len(runs))
    print(f"runs with any standard-track discovery: {share:.2f} (nominal 0.05, bound {bound:.2f} over {len(runs)} seeds)")
    assert all(s["hypotheses_tested"] > 0 for s in runs)
    assert share <= bound


def _cell_truth_sql(states: list[str], occurrences: Path, entry_lag: int) -> str:
    """Standard-track survivors with the planted drift their events really carried: per event the
    planted log drift (ground truth) on the bars between its entry and exit, signed by the
    template's side, averaged over the cell's events (its state condition applied)."""
    state_match = " ".join(f"when '{name}' then event_truth.{name} = results.state_value" for name in states)
    return f"""
        with planted_bars as (
            select symbol, cast(epoch(ts) // 300 as bigint) + k as bar_index, sum(drift_bps / horizon_bars) as bps
            from (select *, unnest(range(1, horizon_bars + 1)) as k
                  from read_parquet('{occurrences}') where role = 'planted')
            group by all
        ),
        event_truth as (
            select samples.*, coalesce(sum(planted_bars.bps), 0) as planted_bps
            from int_phase2__event_samples samples
            left join planted_bars
                on planted_bars.symbol = samples.symbol
                and planted_bars.bar_index between samples.bar_index + {entry_lag}
                                               and samples.bar_index + {entry_lag} + samples.horizon_bars - 1
            where samples.gross_return is not null
            group by all
        )
        select results.candidate_id, results.event_type, results.symbol, results.horizon_bars,
               results.rule_template, results.state_name, results.state_value, results.mean_bps,
               avg(case results.side when 'long' then 1 when 'short' then -1
                                     when 'event_direction' then event_truth.direction_sign
                                     else -event_truth.direction_sign end * event_truth.planted_bps) as true_bps
        from fct_phase2_results results
        join event_truth
            on event_truth.event_type = results.event_type and event_truth.symbol = results.symbol
            and event_truth.horizon_bars = results.horizon_bars
            and case results.state_name when 'all' then true {state_match} end
        where results.promotion_track = 'standard'
        group by all
    """


def test_planted_effects_are_found_and_false_discoveries_stay_below_q(planted_warehouse: Path) -> None:
    """Power per planted effect size (after the real cost model, on the discovery window) and the
    false discovery proportion of the standard-track survivors, scored against the generator's
    ground truth: a survivor is false when its events carried no planted drift."""
    occurrences = planted_warehouse.parent / "archive" / "ground_truth" / "occurrences.parquet"
    discovery = yaml.safe_load((REPO / "spec" / "global_defaults.yaml").read_text())["discovery"]
    max_q = yaml.safe_load((REPO / "spec" / "gates.yaml").read_text())["gate_v1_phase2"]["max_q_value"]
    conn = duckdb.connect(str(planted_warehouse / "warehouse.duckdb"), read_only=True)
    survivors = conn.execute(_cell_truth_sql(discovery["conditioning_states"], occurrences,
                                             discovery["entry_lag_bars"])).fetchall()
    false = [row for row in survivors if row[-1] < MIN_TRUE_DRIFT_BPS]
    event, template, horizon = POWER_CELL
    found = {}
    for symbol, (drift, _) in {"BTCUSDT": (0.0, 1.0), **PLANTED_DRIFTS}.items():
        cell = [row for row in survivors if row[1:6] == (event, symbol, horizon, template, "all")]
        true_cells = [row for row in survivors if row[2] == symbol and row[-1] >= MIN_TRUE_DRIFT_BPS]
        found[symbol] = bool(cell)
        print(f"planted {drift:+.0f} bps ({symbol}): {event} {template} h={horizon} "
              f"{'found' if cell else 'missed'}"
              + (f" (after-cost mean {cell[0][7]:.1f} bps, planted {cell[0][8]:.1f} bps)" if cell else "")
              + f"; standard-track cells with planted drift on the symbol: {len(true_cells)}")
    fdp = len(false) / max(len(survivors), 1)
    bound = max_q + 3 * math.sqrt(max_q * (1 - max_q) / max(len(survivors), 1))
    print(f"standard-track survivors {len(survivors)}, without planted drift {len(false)}: false discovery "
          f"proportion {fdp:.3f} (q {max_q}, bound {bound:.3f})")
    for row in false:
        print("  null survivor:", row)
    assert found["BNBUSDT"] and found["SOLUSDT"], found
    assert not found["BTCUSDT"]
    assert fdp <= bound
