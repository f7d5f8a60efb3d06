"""The backtest models on the planted warehouse (tests/demo_warehouse.py): the engine's rows add up
across levels, entries follow their signals by at least the entry lag, funding is the settled rate
times the position, halts reach their thresholds, every strategy has a summary, and a limit changed
in spec/backtest.yaml changes the PnL on the next build with no code change."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.dbt_runner import run_dbt
from tests.spec_copy import edited_spec_copy

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def query(root: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_book_trades_blueprints_and_hand_written_strategies(planted_warehouse: Path) -> None:
    sources = dict(query(planted_warehouse, "select strategy_source, count(*) from int_backtest__strategies group by 1"))
    blueprints = query(planted_warehouse, "select count(*) from dim_blueprints")[0][0]
    assert blueprints > 0 and sources.get("blueprint") == blueprints
    assert sources.get("spec") == 6   # spec/strategies: 2 + 4 symbols
    traded = query(planted_warehouse, "select count(distinct strategy_id) from fct_backtest_pnl where level = 'strategy'")[0][0]
    assert traded >= blueprints
    summary = query(planted_warehouse, """
        select count(*) filter (where level = 'strategy'), count(*) filter (where level = 'portfolio')
        from fct_backtest_summary""")[0]
    assert summary == (traded, 1)


def test_levels_add_up(planted_warehouse: Path) -> None:
    # gross and funding are linear in the position: the strategies of a symbol sum to the symbol row
    worst = query(planted_warehouse, """
        with strategies as (
            select symbol, ts, sum(gross) as gross, sum(funding) as funding, sum(position) as position
            from fct_backtest_pnl where level = 'strategy' group by 1, 2
        )
        select max(abs(strategies.gross - coalesce(symbols.gross, 0))),
               max(abs(strategies.funding - coalesce(symbols.funding, 0))),
               max(abs(strategies.position - coalesce(symbols.position, 0)))
        from strategies left join fct_backtest_pnl as symbols
            on symbols.level = 'symbol' and symbols.symbol = strategies.symbol and symbols.ts = strategies.ts""")[0]
    assert max(worst) < 1e-12, worst
    gap = query(planted_warehouse, """
        with symbols as (select ts, sum(net) as net from fct_backtest_pnl where level = 'symbol' group by 1)
        select max(abs(portfolio.net - coalesce(symbols.net, 0))), count(*)
        from fct_backtest_pnl as portfolio left join symbols using (ts) where portfolio.level = 'portfolio'""")[0]
    window_bars = query(planted_warehouse, """
        select count(distinct ts) from int_backtest__market_bars""")[0][0]
    assert gap[0] < 1e-12 and gap[1] == window_bars


def test_every_entry_follows_a_signal_by_at_least_the_entry_lag(planted_warehouse: Path) -> None:
    rows = query(planted_warehouse, """
        with held as (
            select strategy_id, ts, position,
                   lag(ts) over (partition by strategy_id order by ts) as previous_ts,
                   lag(position) over (partition by strategy_id order by ts) as previous_position
            from fct_backtest_pnl where level = 'strategy'
        ),
        entries as (
            select held.strategy_id, held.ts from held
            where held.position <> 0
              and (held.previous_ts is null or held.previous_ts < held.ts - interval 5 minute or held.previous_position = 0)
        )
        select count(*),
               count(*) filter (where not exists (
                   select 1 from int_backtest__entry_signals as signals
                   join int_backtest__strategies as strategies using (strategy_id)
                   where signals.strategy_id = entries.strategy_id
                     and signals.ts <= entries.ts - to_minutes(5 * strategies.entry_lag_bars)
                     and signals.ts > entries.ts - to_minutes(5 * (strategies.entry_lag_bars + strategies.horizon_bars))
               ))
        from entries""")[0]
    assert rows[0] > 0 and rows[1] == 0, rows


def test_funding_is_the_settled_rate_times_the_position(planted_warehouse: Path) -> None:
    worst, paid = query(planted_warehouse, """
        select max(abs(pnl.funding + pnl.position * market.funding_rate)), count(*) filter (where market.funding_rate <> 0)
        from fct_backtest_pnl as pnl
        join int_backtest__market_bars as market using (symbol, ts)
        where pnl.level in ('strategy', 'symbol') and pnl.position <> 0""")[0]
    assert paid > 0 and worst < 1e-15
    settled, in_bars = query(planted_warehouse, """
        select (select sum(funding_rate) from stg_binance__funding, int_backtest__window
                where settlement_time > backtest_start and settlement_time <= backtest_end),
               (select sum(funding_rate) from int_backtest__market_bars)""")[0]
    assert in_bars == pytest.approx(settled, abs=1e-12)


def test_halts_are_recorded_with_their_thresholds(planted_warehouse: Path) -> None:
    halted = query(planted_warehouse, """
        select halts.strategy_id, halts.halt_bar_ts,
               (select count(*) from fct_backtest_pnl as pnl
                where pnl.level = 'strategy' and pnl.strategy_id = halts.strategy_id
                  and pnl.ts > halts.halt_bar_ts + interval 5 minute and pnl.position <> 0)
        from fct_backtest_halts as halts where halt_reason in ('drawdown', 'slippage_ratio')""")
    # after a drawdown or slippage halt the strategy never holds again (its exit is the next bar)
    assert all(row[2] == 0 for row in halted), halted


def test_a_limit_changed_in_spec_changes_the_pnl(planted_warehouse: Path, tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    root.mkdir()
    shutil.copy(planted_warehouse / "warehouse.duckdb", root / "warehouse.duckdb")
    (root / "lake").symlink_to(planted_warehouse / "lake")

    def tighten(config: dict[str, Any]) -> None:
        config["risk_limits"]["strategy_max_weight"] = 0.01
        config["execution_mode"] = "close"

    spec = edited_spec_copy(tmp_path / "spec", "backtest.yaml", tighten)
    result = run_dbt(["build", "-s", "int_backtest__window+", "--indirect-selection", "cautious"], root, spec_dir=spec)
    assert result.returncode == 0, result.stdout[-3000:]
    largest, binding, modes = query(root, """
        select max(abs(position)), count(*) filter (where binding_layer = 'strategy'), list(distinct execution_mode)
        from fct_backtest_pnl where level = 'strategy'""")[0]
    assert largest <= 0.01 + 1e-15 and binding > 0 and modes == ["close"]


def test_overfitting_and_drift_diagnostics_cover_the_blueprints(planted_warehouse: Path) -> None:
    n_strategies, combinations, pbo, status = query(
        planted_warehouse, "select n_strategies, n_combinations, pbo, status from fct_backtest_overfitting")[0]
    blueprints = query(planted_warehouse, "select count(*) from dim_blueprints")[0][0]
    assert n_strategies == blueprints and status == "ok" and combinations == 12870
    # the planted drift is real and persistent: the in-sample winner stays good out of sample
    assert pbo < 0.2
    missing = query(planted_warehouse, """
        select count(*) from dim_blueprints, unnest(symbol_scope) as scope(symbol)
        where not exists (select 1 from fct_backtest_feature_drift as drift
                          where list_contains(drift.blueprint_ids, dim_blueprints.blueprint_id)
                            and drift.symbol = scope.symbol)""")[0][0]
    assert missing == 0
    assert query(planted_warehouse, "select count(*) from fct_backtest_feature_drift where drift_level = 'unknown'")[0][0] == 0


def test_robustness_covers_every_blueprint_and_perturbation(planted_warehouse: Path) -> None:
    rows = query(planted_warehouse, """
        select count(distinct strategy_id), count(*), count(distinct perturbation),
               count(*) filter (where perturbation = 'entry_lag_plus'
                                and entry_lag_bars <> (select entry_lag_bars from int_backtest__strategies as s
                                                       where s.strategy_id = fct_robustness.strategy_id) + 1)
        from fct_robustness""")[0]
    blueprints = query(planted_warehouse, "select count(*) from int_backtest__strategies where strategy_source = 'blueprint'")[0][0]
    assert rows == (blueprints, blueprints * 7, 7, 0)
    # dearer execution can only lower the return of the same trades
    worse = query(planted_warehouse, """
        select count(*) filter (where dear.total_return > base.total_return + 1e-15), count(*)
        from fct_robustness as dear join fct_robustness as base using (strategy_id)
        where dear.perturbation = 'costs_multiplied' and base.perturbation = 'baseline'""")[0]
    assert worse[0] == 0 and worse[1] == blueprints
    # its working views are dropped, so BI users see only the models
    assert query(planted_warehouse, "select view_name from duckdb_views() where view_name like 'robustness%'") == []


def test_threshold_perturbations_redetect_the_event(planted_warehouse: Path) -> None:
    """At factor 1 the re-detection reproduces the warehouse's own signals; lower thresholds fire at
    least as often as higher ones (VOLUME_CLIMAX: both parameters are lower bounds)."""
    from python_udfs.robustness import perturbed_signals

    conn = duckdb.connect(str(planted_warehouse / "warehouse.duckdb"), read_only=True)
    try:
        relations = {name: name for name in ("fct_features", "fct_bars", "dim_states", "int_backtest__strategies",
                                             "int_backtest__window")}
        strategies = [row[0] for row in conn.execute(
            "select strategy_index from int_backtest__strategies where event_type = 'VOLUME_CLIMAX' order by 1").fetchall()]
        states = yaml.safe_load((REPO / "spec" / "global_defaults.yaml").read_text())["discovery"]["conditioning_states"]
        same = perturbed_signals(conn, "VOLUME_CLIMAX", 1.0, strategies, relations, states)
        expected = conn.execute("""
            select signals.strategy_index, signals.ts, signals.side_sign from int_backtest__entry_signals as signals
            join int_backtest__strategies using (strategy_id) where event_type = 'VOLUME_CLIMAX'
            order by 1, 2""").fetchall()
        got = sorted(zip(*(same.column(name).to_pylist() for name in ("strategy_index", "ts", "side_sign"))))
        assert got == expected and len(expected) > 0
        looser = perturbed_signals(conn, "VOLUME_CLIMAX", 0.9, strategies, relations, states).num_rows
        stricter = perturbed_signals(conn, "VOLUME_CLIMAX", 1.1, strategies, relations, states).num_rows
        assert looser >= len(expected) >= stricter and looser > stricter
    finally:
        conn.close()


def test_walkforward_splits_are_purged_and_embargoed(planted_warehouse: Path) -> None:
    splits = query(planted_warehouse, """
        select scheme, split_index, train_start, train_end, test_start, test_end, embargo_bars, chunk_bars
        from dim_walkforward_splits order by scheme, split_index""")
    config = yaml.safe_load((REPO / "spec" / "backtest.yaml").read_text())["walkforward"]
    assert len(splits) == 2 * config["n_splits"]
    data_start = query(planted_warehouse, "select min(ts) from fct_bars")[0][0]
    for scheme, index, train_start, train_end, test_start, test_end, embargo, chunk in splits:
        assert (test_start - train_end).total_seconds() == embargo * 300
        assert (test_end - test_start).total_seconds() == chunk * 300
        if scheme == "anchored":
            assert train_start == data_start
        else:
            assert train_start == max(data_start, train_end - (test_end - test_start) * config["rolling_train_chunks"])
    tests = sorted((row[4], row[5]) for row in splits if row[0] == "anchored")
    assert all(earlier[1] == later[0] for earlier, later in zip(tests, tests[1:]))   # contiguous, no overlap


def test_walkforward_rerun_recomputes_from_the_training_window(planted_warehouse: Path) -> None:
    """One tested hypothesis recomputed from int_events__outcomes by hand: purged training events
    only, and the BH q-values of a split equal python_udfs.multiple_testing's."""
    import numpy as np

    from python_udfs.multiple_testing import bh_qvalues

    row = query(planted_warehouse, """
        select c.scheme, c.split_index, c.candidate_id, c.is_n, c.is_mean_bps, s.train_start, s.train_end,
               p.event_type, p.symbol, p.horizon_bars, p.side, p.state_name
        from fct_walkforward_candidates as c
        join dim_walkforward_splits as s using (scheme, split_index)
        join fct_phase2_candidates as p using (candidate_id)
        where p.state_name = 'all' and p.side = 'long' and c.scheme = 'rolling'
        order by c.is_n desc limit 1""")[0]
    scheme, split, candidate, n, mean, train_start, train_end, event_type, symbol, horizon, _, _ = row
    recomputed = query(planted_warehouse, f"""
        select count(*), avg(gross_return * 1e4 - round_trip_cost_bps - funding_rate_sum * 1e4)
        from int_events__outcomes
        where event_type = '{event_type}' and symbol = '{symbol}' and horizon_bars = {horizon}
          and gross_return is not null and funding_known and not window_touches_gap
          and ts >= '{train_start.isoformat()}'
          and ts + to_minutes(5 * (entry_lag_bars + horizon_bars)) <= '{train_end.isoformat()}'""")[0]
    assert recomputed[0] == n and recomputed[1] == pytest.approx(mean, rel=1e-9)
    p_values, q_values = zip(*query(planted_warehouse, f"""
        select is_p_value, is_q_value from fct_walkforward_candidates
        where scheme = '{scheme}' and split_index = {split} order by candidate_id"""))
    np.testing.assert_allclose(q_values, bh_qvalues(np.asarray(p_values)), rtol=1e-9)


def test_walkforward_finds_the_persistent_planted_edge_out_of_sample(planted_warehouse: Path) -> None:
    rows = query(planted_warehouse, """
        select scheme, split_index, n_selected, oos_n_trades, oos_mean_bps from fct_walkforward where n_selected > 0""")
    assert rows, "no split selected anything on a market with planted drifts"
    # BNB's drift after funding bars lasts the whole history: selected out of sample in the later splits
    bnb = query(planted_warehouse, """
        select count(*), avg(oos_mean_bps) from fct_walkforward_candidates
        where is_selected and symbol = 'BNBUSDT' and event_type = 'FUNDING_TIMESTAMP_EVENT' and side = 'long'
          and oos_n > 0""")[0]
    assert bnb[0] > 0 and bnb[1] > 0
