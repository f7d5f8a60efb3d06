"""The alpha bundle's models on the planted warehouse (tests/demo_warehouse.py, built once per
session): the bundle is backtested through the engine with the blueprints' costs and funding, its
weights act from the bar after their decision, the levels add up, the orthogonalisation lowers the
correlations, and - truncation - nothing the bundle computes for a bar before T changes when its
chain is recomputed on the upstream rows before T only (fct_bars, fct_features, dim_states cut at
T). That the upstream rows before T do not depend on the lake after T is the feature stage's own
truncation test (tests/features/test_feature_build.py, a lake cut at T); recomputing the chain
in-process rather than with a second `dbt build` saves a full dbt parse (about 12 s here, the
profile's path differs per data root) and runs the same SQL and functions the models run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytestmark = pytest.mark.slow
CUT = "2024-06-05 12:00:00+00"
COMPARED = {
    "int_alpha__signal_values": (("signal_name", "symbol", "ts"), ("raw_value", "regime_on")),
    "int_alpha__signals": (("signal_name", "symbol", "ts"),
                           ("n_symbols", "score", "residual", "signal_value", "estimation_rows")),
    "int_alpha__factor_returns": (("signal_name", "stage", "ts"), ("factor_return", "cumulative_return")),
    "int_alpha__target_weights": (("variant", "symbol", "ts"),
                                  ("combined_score", "is_rebalance_bar", "decision_weight", "decided_at")),
}


def query(root: Path, sql: str) -> list[tuple]:
    conn = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_bundle_is_backtested_through_the_engine(planted_warehouse: Path) -> None:
    variants = dict(query(planted_warehouse, """
        select variant, count(*) from fct_alpha_bundle_pnl where level = 'portfolio' group by 1"""))
    window_bars = query(planted_warehouse, "select count(distinct ts) from int_backtest__market_bars")[0][0]
    assert variants == {"dollar_neutral": window_bars, "long_only": window_bars}
    # symbols add up to the portfolio (gross and funding are linear; the portfolio books the known net)
    worst = query(planted_warehouse, """
        with symbols as (
            select variant, ts, sum(gross) as gross, sum(funding) as funding, sum(coalesce(net, 0)) as net,
                   sum(abs(position)) as exposure, sum(traded) as traded
            from fct_alpha_bundle_pnl where level = 'symbol' group by 1, 2
        )
        select max(abs(p.gross - coalesce(s.gross, 0))), max(abs(p.funding - coalesce(s.funding, 0))),
               max(abs(p.position - coalesce(s.exposure, 0))), max(abs(p.traded - coalesce(s.traded, 0))),
               count(*) filter (where p.net is null)
        from fct_alpha_bundle_pnl as p left join symbols as s using (variant, ts) where p.level = 'portfolio'""")[0]
    assert max(worst[:4]) < 1e-12 and worst[4] == 0, worst
    # the blueprints' funding: the settled rate times the weight held, paid by longs
    funding = query(planted_warehouse, """
        select max(abs(pnl.funding + pnl.position * market.funding_rate)),
               count(*) filter (where market.funding_rate <> 0 and pnl.position <> 0)
        from fct_alpha_bundle_pnl as pnl join int_backtest__market_bars as market using (symbol, ts)
        where pnl.level = 'symbol' and pnl.position <> 0""")[0]
    assert funding[0] < 1e-15 and funding[1] > 0
    summary = query(planted_warehouse, """
        select variant, sharpe_ratio, turnover_annualised, n_trials from fct_alpha_bundle_summary where level = 'portfolio'""")
    assert {row[0] for row in summary} == {"dollar_neutral", "long_only"}
    assert all(row[2] > 0 and row[3] == 2 for row in summary), summary


def test_weights_act_from_the_bar_after_their_decision(planted_warehouse: Path) -> None:
    rows = query(planted_warehouse, """
        select count(*),
               count(*) filter (where abs(pnl.target_weight - coalesce(weights.decision_weight, 0)) > 1e-15),
               count(*) filter (where pnl.decided_at >= pnl.ts),
               count(*) filter (where pnl.target_weight <> 0)
        from fct_alpha_bundle_pnl as pnl
        left join int_alpha__target_weights as weights
            on weights.variant = pnl.variant and weights.symbol = pnl.symbol and weights.ts = pnl.ts - interval 5 minute
        where pnl.level = 'symbol'""")[0]
    assert rows[0] > 0 and rows[3] > 0 and rows[1] == 0 and rows[2] == 0, rows
    # a decision is taken at the close of the last bar of each rebalance block, and only there
    [(changes, off_grid)] = query(planted_warehouse, """
        with moves as (
            select variant, symbol, ts, is_rebalance_bar,
                   decision_weight <> lag(decision_weight) over (partition by variant, symbol order by ts) as moved
            from int_alpha__target_weights
        )
        select count(*) filter (where moved), count(*) filter (where moved and not is_rebalance_bar) from moves""")
    assert changes > 0 and off_grid == 0
    # long-only never shorts, dollar-neutral nets to zero at each decision, both within the gross
    [(shorts, net, gross)] = query(planted_warehouse, """
        select count(*) filter (where variant = 'long_only' and decision_weight < 0),
               max(abs(net)) filter (where variant = 'dollar_neutral'), max(gross)
        from (select variant, ts, min(decision_weight) as decision_weight, sum(decision_weight) as net,
                     sum(abs(decision_weight)) as gross
              from int_alpha__target_weights group by all)""")
    assert shorts == 0 and net < 1e-12 and gross <= 1.0 + 1e-12


def test_orthogonalisation_lowers_the_correlations(planted_warehouse: Path) -> None:
    [(before, after, pairs)] = query(planted_warehouse, """
        select avg(abs(score_correlation_before)), avg(abs(residual_correlation_after)), count(*)
        from fct_alpha_signal_correlations""")
    signals = query(planted_warehouse, "select count(*) from dim_alpha_signals")[0][0]
    assert pairs == signals * (signals - 1) // 2
    assert after < 0.5 * before, (before, after)


def cut_chain(planted_warehouse: Path, conn: duckdb.DuckDBPyConnection) -> dict[str, pa.Table]:
    """The bundle's chain on the planted warehouse's upstream rows before CUT only: the signal SQL the
    model int_alpha__signal_values runs (python_udfs/alpha_compiler.py), then the functions its Python
    models call (python_udfs/alpha_tables.py), on views that hide every row from CUT on."""
    from python_udfs.alpha_compiler import alpha_plan_json
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import factor_return_table, signal_table, target_weight_table
    from python_udfs.feature_compiler import render_sql

    conn.execute(f"attach '{planted_warehouse / 'warehouse.duckdb'}' as full_db (read_only)")
    for relation in ("fct_bars", "fct_features", "dim_states"):
        conn.execute(f"create view {relation} as select * from full_db.{relation} where ts < timestamptz '{CUT}'")
    spec = load_alpha_spec()
    values = conn.sql(render_sql(json.loads(alpha_plan_json()), {})).to_arrow_table()
    factors = conn.sql(f"select symbol, ts, {', '.join(spec.orthogonalisation.factors)} from fct_features").to_arrow_table()
    signals = signal_table(values, factors, spec)
    returns = factor_return_table(signals, conn.sql("select symbol, ts, ret_1 from fct_features").to_arrow_table(), spec)
    weights = target_weight_table(signals, returns.filter(pc.equal(returns.column("stage"), "residual")), spec)
    return {"int_alpha__signal_values": values, "int_alpha__signals": signals, "int_alpha__factor_returns": returns,
            "int_alpha__target_weights": weights}


def test_nothing_before_the_cut_reads_a_later_bar(planted_warehouse: Path) -> None:
    """Truncation: the bundle's chain recomputed on the warehouse's upstream rows before CUT (fct_bars,
    fct_features, dim_states) gives, for every bar before CUT, exactly the rows of the full build."""
    conn = duckdb.connect()
    for relation, table in cut_chain(planted_warehouse, conn).items():
        conn.register(f"cut_{relation}", table)
        keys, columns = COMPARED[relation]
        where = f"ts < timestamptz '{CUT}'"
        counts = conn.execute(f"select (select count(*) from full_db.{relation} where {where}), "
                              f"(select count(*) from cut_{relation}), "
                              f"(select max(ts) from cut_{relation}) < timestamptz '{CUT}'").fetchall()[0]
        assert counts[0] == counts[1] > 0 and counts[2], (relation, counts)
        join = " and ".join(f"a.{key} = b.{key}" for key in keys)
        checks = []
        for name in columns:
            exact = name in ("regime_on", "is_rebalance_bar", "decided_at", "n_symbols", "estimation_rows")
            same = (f"a.{name} is not distinct from b.{name}" if exact else
                    f"(a.{name} is null and b.{name} is null) or abs(a.{name} - b.{name}) "
                    f"<= 1e-12 * greatest(abs(a.{name}), abs(b.{name}), 1)")
            checks.append(f"count(*) filter (where not ({same}))")
        differing = conn.execute(f"select {', '.join(checks)} from (select * from full_db.{relation} where {where}) as a "
                                 f"join cut_{relation} as b on {join}").fetchall()[0]
        assert not any(differing), f"{relation}: rows before the cut differ in {dict(zip(columns, differing))}"
    # the cut chain has values right up to the cut (the comparison is not vacuous)
    [(last, decisions)] = conn.execute("""
        select (select max(ts) from cut_int_alpha__signals where residual is not null)::varchar,
               (select count(distinct decided_at) from cut_int_alpha__target_weights where decision_weight <> 0)""").fetchall()
    assert last.startswith("2024-06-05 11:55") and decisions > 10
