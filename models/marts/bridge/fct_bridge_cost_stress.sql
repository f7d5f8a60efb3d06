{#- Every promoted phase 2 candidate on the holdout window at the configured cost (multiplier 1)
    and at each stress multiplier of spec/gates.yaml gate_v1_bridge.cost_stress_multipliers: the
    holdout statistics and whether the level passes, with the reason. A level passes when the
    candidate has at least min_holdout_events de-overlapped holdout events and its holdout mean
    after the stressed costs reaches min_after_cost_expectancy_bps. The evaluation windows are on
    every row. -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}
{%- set bridge = spec('gates').get('gate_v1_bridge', {}) if execute else {} %}
{%- set min_events = bridge.get('min_holdout_events', 10) %}
{%- set min_bps = bridge.get('min_after_cost_expectancy_bps', 2.0) %}

with

statistics as (

    select * from {{ ref('int_bridge__holdout_statistics') }}

),

windows as (

    select discovery_start, discovery_end, holdout_start, holdout_end, embargo_bars
    from {{ ref('dim_evaluation_windows') }}

),

final as (

    select
        candidate_id,
        cost_multiplier,
        n as holdout_n,
        n_deoverlapped as holdout_n_deoverlapped,
        mean_bps as holdout_mean_bps,
        median_bps as holdout_median_bps,
        std_bps as holdout_std_bps,
        hit_rate as holdout_hit_rate,
        hac_se_bps as holdout_hac_se_bps,
        t_stat as holdout_t_stat,
        p_value as holdout_p_value,
        sharpe_per_trade as holdout_sharpe_per_trade,
        skewness as holdout_skewness,
        kurtosis as holdout_kurtosis,
        deflated_sharpe_ratio,
        expected_max_sharpe,
        n_trials,
        trial_sharpe_variance,
        n_deoverlapped >= {{ min_events }} and coalesce(mean_bps >= {{ min_bps }}, false) as stress_passed,
        case
            when n_deoverlapped < {{ min_events }}
                then n_deoverlapped || ' de-overlapped holdout events < min_holdout_events {{ min_events }}'
            when mean_bps is null then 'no measurable holdout return (gaps or unknown funding)'
            when mean_bps < {{ min_bps }}
                then 'holdout mean after costs x' || cost_multiplier || ' ' || round(mean_bps, 2)
                     || ' bps < {{ min_bps }} bps'
            else 'passed'
        end as stress_reason,
        windows.*
    from statistics
    cross join windows

)

select * from final
order by candidate_id, cost_multiplier
