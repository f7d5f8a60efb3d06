"""Bridge statistics (python_udfs/bridge.py): every promoted candidate re-measured on the holdout
window at the configured cost and at each stress multiplier of spec/gates.yaml gate_v1_bridge, with
the deflated Sharpe ratio of its holdout returns against the run's real trial count (the testable
hypotheses of fct_phase2_candidates) and the variance of their phase 2 Sharpe ratios. A dbt Python
model because the HAC variance, the de-overlap count and the higher moments need numpy/scipy."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["label", "bridge"])
    from python_udfs.bridge import holdout_table
    from python_udfs.spec_registry import load_spec

    bridge = load_spec().get("gates", {}).get("gate_v1_bridge", {})
    promoted = dbt.ref("fct_phase2_results").filter("promotion_track is not null") \
        .project("candidate_id, horizon_bars").order("candidate_id").fetchall()
    n_trials = dbt.ref("fct_phase2_candidates").filter("plan_status = 'testable'").aggregate("count(*)").fetchall()[0][0]
    variance = dbt.ref("fct_phase2_results").aggregate("var_samp(mean_bps / nullif(std_bps, 0))").fetchall()[0][0]
    events = dbt.ref("int_bridge__candidate_holdout_events").to_arrow_table()
    return holdout_table(events, [row[0] for row in promoted], [row[1] for row in promoted],
                         bridge.get("cost_stress_multipliers", [1.5, 2.0, 3.0]), int(n_trials),
                         float(variance) if variance is not None else float("nan"))
