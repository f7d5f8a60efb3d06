"""The alpha bundle through the backtest engine's target-weights path
(python_udfs/backtest_engine.py run_target_weights): each portfolio variant of spec/alpha/bundle.yaml
on the market of int_backtest__market_bars over the backtest window, with the caps, kill switches,
dynamic costs and funding of spec/backtest.yaml and spec/costs.yaml - the blueprints' engine and
settings. The target of bar k is the weight in force after the close of bar k - execution_lag_bars.
Long rows (row_kind symbol, portfolio, halt) that fct_alpha_bundle_pnl and fct_alpha_bundle_summary read."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["alpha", "backtest"])
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import alpha_simulation
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.cost_model import load_cost_config

    spec = load_alpha_spec()
    market = dbt.ref("int_backtest__market_bars").order("symbol, ts").to_arrow_table()
    window = dbt.ref("int_backtest__window").project("backtest_start, backtest_end").fetchall()
    weights = dbt.ref("int_alpha__target_weights").project("variant, symbol, ts, decision_weight, decided_at")
    if window and window[0][0] is not None:
        # the decisions behind the window's first bars were taken before it
        lag = spec.portfolio.execution_lag_bars
        weights = weights.filter(f"ts >= timestamptz '{window[0][0].isoformat()}' - to_minutes({5 * lag}) "
                                 f"and ts < timestamptz '{window[0][1].isoformat()}'")
    return alpha_simulation(weights.to_arrow_table(), market, spec, load_backtest_config(), load_cost_config())
