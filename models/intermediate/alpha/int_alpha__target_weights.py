"""The alpha bundle's target weights, one row per portfolio variant, symbol and bar: the combined
score (the traded signals weighted by spec/alpha/bundle.yaml combination, inverse-volatility weights
from the residual factor returns known at the bar), whether the bar is a decision bar, and the weight
in force after the bar's close (the latest decision; dollar-neutral or long-only, scaled to the gross
leverage, capped per symbol). A weight decided at bar t is held from t + execution_lag_bars
(int_alpha__simulation). A dbt Python model: the weights are numpy (python_udfs/alpha_bundle.py)."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["alpha"])
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import target_weight_table

    residuals = dbt.ref("int_alpha__signals").project("signal_name, symbol, ts, signal_value").to_arrow_table()
    factor_returns = dbt.ref("int_alpha__factor_returns").filter("stage = 'residual'").to_arrow_table()
    return target_weight_table(residuals, factor_returns, load_alpha_spec())
