"""Probability of backtest overfitting (python_udfs/overfitting.py, CSCV of Bailey, Borwein, Lopez de
Prado and Zhu) over the blueprints' per-bar net returns in the backtest window: the share of the
C(S, S/2) train/test splits of S blocks (spec/backtest.yaml monitoring.cscv_blocks) in which the
blueprint best in sample ranks at or below the median out of sample. One row; status says why it is
NULL (fewer than two blueprints, too few bars). A dbt Python model: 12,870 splits, vectorised."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["backtest"])
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.backtest_diagnostics import overfitting_table, returns_matrix

    strategies = [row[0] for row in dbt.ref("int_backtest__strategies")
                  .filter("strategy_source = 'blueprint'").project("strategy_id").order("strategy_id").fetchall()]
    rows = dbt.ref("fct_backtest_pnl").filter("level = 'strategy' and strategy_source = 'blueprint'") \
        .project("strategy_id, ts, net").to_arrow_table()
    grid = dbt.ref("fct_backtest_pnl").filter("level = 'portfolio'").project("ts").to_arrow_table().column("ts")
    return overfitting_table(returns_matrix(rows, grid, strategies), load_backtest_config().monitoring.cscv_blocks)
