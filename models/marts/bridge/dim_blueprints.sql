{#- Strategy blueprints: one row per candidate that passed the bridge evaluation
    (fct_bridge_evaluation.bridge_passed), in the shape of the versioned contract
    spec/contracts/blueprint.v1.schema.json: what to trade (event, symbol scope, side and rule),
    how to enter (lag, execution) and exit (horizon; no stop was tested, so exit_stop_bps is NULL),
    a sizing hint (the blueprint's share of the run's risk budget: in inverse proportion to the
    standard deviation of its holdout trade returns, and split among the blueprints that trade the
    same event, symbol, side and horizon under different state conditions, since their trades
    overlap), the state
    condition, discovery and holdout statistics, q-values, the deflated Sharpe ratio, the promotion
    track and the lineage (phase 2 run id, evaluation windows, ontology_spec_hash,
    cost_config_digest, candidate_plan_hash, code version). Fail closed: a row without every digest
    is not a blueprint; `backtest discover-edges` validates every row against the contract before
    writing reports/<run_id>/blueprints.jsonl and .parquet. -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}
{%- set settings = discovery_settings() %}
{%- set costs = spec('costs') if execute else {} %}
{%- set execution = costs.get('execution_mode', 'taker') %}

with

evaluation as (

    select
        *,
        count(*) over (partition by event_type, symbol, side, horizon_bars) as n_trade_variants
    from {{ ref('fct_bridge_evaluation') }}
    where bridge_passed

),

runs as (

    select phase2_run_id from {{ ref('fct_phase2_run_summary') }}

),

final as (

    select
        md5(concat_ws('|', evaluation.candidate_id, evaluation.ontology_spec_hash, evaluation.cost_config_digest,
                      evaluation.discovery_start, evaluation.holdout_start, evaluation.holdout_end)) as blueprint_id,
        'blueprint.v1' as contract_version,
        evaluation.candidate_id,
        evaluation.event_type,
        evaluation.family,
        [evaluation.symbol] as symbol_scope,
        evaluation.side,
        evaluation.rule_template,
        evaluation.template_verb,
        cast({{ settings['entry_lag_bars'] }} as integer) as entry_lag_bars,
        '{{ execution }}_at_open' as entry_execution,
        cast(evaluation.horizon_bars as integer) as exit_horizon_bars,
        cast(null as double) as exit_stop_bps,
        'inverse_vol_share_of_run' as sizing_hint_method,
        (1.0 / evaluation.holdout_std_bps / evaluation.n_trade_variants)
            / sum(1.0 / evaluation.holdout_std_bps / evaluation.n_trade_variants) over () as sizing_hint_fraction,
        evaluation.state_name,
        evaluation.state_value,
        evaluation.discovery_n,
        evaluation.discovery_n_deoverlapped,
        evaluation.discovery_mean_bps,
        evaluation.discovery_t_stat,
        evaluation.discovery_p_value,
        evaluation.q_value_bh,
        evaluation.q_value_by,
        evaluation.shrunken_mean_bps,
        evaluation.holdout_n,
        evaluation.holdout_n_deoverlapped,
        evaluation.holdout_mean_bps,
        evaluation.holdout_median_bps,
        evaluation.holdout_hit_rate,
        evaluation.holdout_t_stat,
        evaluation.holdout_p_value,
        evaluation.holdout_sharpe_per_trade,
        evaluation.deflated_sharpe_ratio,
        evaluation.n_trials,
        evaluation.max_stress_multiplier_passed,
        evaluation.promotion_track,
        runs.phase2_run_id,
        timezone('UTC', evaluation.discovery_start) as discovery_start,
        timezone('UTC', evaluation.discovery_end) as discovery_end,
        timezone('UTC', evaluation.holdout_start) as holdout_start,
        timezone('UTC', evaluation.holdout_end) as holdout_end,
        cast(evaluation.embargo_bars as integer) as embargo_bars,
        evaluation.ontology_spec_hash,
        evaluation.cost_config_digest,
        evaluation.candidate_plan_hash,
        code_version() as code_version
    from evaluation
    cross join runs
    where evaluation.ontology_spec_hash is not null
        and evaluation.cost_config_digest is not null
        and evaluation.candidate_plan_hash is not null

)

select * from final
order by blueprint_id
