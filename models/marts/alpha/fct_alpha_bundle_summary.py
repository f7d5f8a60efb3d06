"""The alpha bundle's backtest summary per portfolio variant: the portfolio and each symbol, with the
blueprints' metrics (python_udfs/performance_metrics.py over fct_alpha_bundle_pnl: return,
volatility, Sharpe, Sortino, drawdown, turnover, cost and funding shares, PSR), the DSR over the
variants (the bundle's trials) and the variant's first kill-switch halt. A dbt Python model because
drawdowns, PSR and DSR need the ordered series and scipy."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["alpha"])
    from python_udfs.alpha_tables import bundle_summary_table

    pnl = dbt.ref("fct_alpha_bundle_pnl").order("variant, level, symbol, ts").to_arrow_table()
    halts = dbt.ref("int_alpha__simulation").filter("row_kind = 'halt'")
    return bundle_summary_table(pnl, halts.project("variant, symbol, ts, halt_reason, halt_value").to_arrow_table())
