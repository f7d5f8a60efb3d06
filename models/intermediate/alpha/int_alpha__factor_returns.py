"""Factor returns of the alpha bundle's signals, one row per signal, stage and bar: the return over
the bar of a dollar-neutral, unit-gross book on the signal formed at the previous bar's close (the
symbols' simple returns exp(ret_1) - 1 of fct_features), for the scores before orthogonalisation
(stage 'score'), the residuals after it ('residual') and the traded signal with the regime filters
('signal'). Backward-looking only: the return of bar t is known at its close, so the inverse-volatility
combination at t may use it. A dbt Python model sharing python_udfs/alpha_bundle.py with the
combination, so the two cannot disagree."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["alpha"])
    from python_udfs.alpha_spec import load_alpha_spec
    from python_udfs.alpha_tables import factor_return_table

    residuals = dbt.ref("int_alpha__signals").project("signal_name, symbol, ts, score, residual, signal_value")
    features = dbt.ref("fct_features").project("symbol, ts, ret_1")
    return factor_return_table(residuals.to_arrow_table(), features.to_arrow_table(), load_alpha_spec())
