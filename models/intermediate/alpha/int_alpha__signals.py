"""The alpha bundle's signals, one row per signal, symbol and bar (python_udfs/alpha_bundle.py):
- the score among the symbols with a value at the bar (xs_rank, xs_zscore, or the time_series value);
  a symbol without a value is never ranked, never counted and never zero;
- the residual: the score regressed by OLS on an intercept, the factor exposures of
  spec/alpha/bundle.yaml (fct_features columns) and the other signals' scores, pooled over the
  (symbol, bar) rows of the estimation window ending at the bar;
- the traded signal: the residual, 0 where the regime filters switch the signal off.
A dbt Python model because the rolling regressions are numpy (running sums of cross-products,
linear in bars x symbols)."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["alpha"])
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import signal_table

    spec = load_alpha_spec()
    values = dbt.ref("int_alpha__signal_values").project("signal_name, symbol, ts, raw_value, regime_on")
    factors = dbt.ref("fct_features").project(", ".join(["symbol", "ts", *spec.orthogonalisation.factors]))
    return signal_table(values.to_arrow_table(), factors.to_arrow_table(), spec)
