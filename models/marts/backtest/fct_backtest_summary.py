"""Backtest performance per strategy, per symbol and for the portfolio (python_udfs/backtest_summary.py
over fct_backtest_pnl): return, volatility, Sharpe, Sortino, maximum drawdown and its duration,
turnover, hit rate, average holding, cost and funding shares of gross, PSR, and the per-trade DSR
against the run's trial count and the variance of the trials' per-trade Sharpe ratios (the testable
phase 2 hypotheses, as in the bridge; the backtested strategies when there was no discovery). A dbt Python model because drawdown durations, PSR and DSR need the ordered series and
scipy."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["backtest"])
    from python_udfs.backtest_summary import summary_table

    pnl = dbt.ref("fct_backtest_pnl").order("level, strategy_id, symbol, ts").to_arrow_table()
    testable = dbt.ref("fct_phase2_candidates").filter("plan_status = 'testable'").aggregate("count(*)").fetchall()[0][0]
    strategies = dbt.ref("int_backtest__strategies").aggregate("count(*)").fetchall()[0][0]
    n_trials = int(testable) if testable else max(int(strategies), 1)
    # the trials' per-trade Sharpe ratios, as the bridge's DSR uses them (None: no phase 2 results)
    variance = dbt.ref("fct_phase2_results").aggregate("var_samp(mean_bps / nullif(std_bps, 0))").fetchall()[0][0]
    return summary_table(pnl, n_trials, float(variance) if testable and variance is not None else None)
