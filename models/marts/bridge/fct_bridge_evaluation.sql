{#- Bridge evaluation: one row per promoted phase 2 candidate (promotion_track standard or
    fallback_only) with its discovery statistics beside its holdout statistics (same labels, same
    cost model; int_bridge__holdout_statistics at multiplier 1), the deflated Sharpe ratio of the
    holdout returns against the run's real trial count, the cost-stress levels passed
    (fct_bridge_cost_stress), the evaluation windows it was measured on (dim_evaluation_windows) and
    the verdict with its reason.

    A candidate passes the bridge when, in this order: it is bound to the current cost
    configuration (cost_config_digest on the candidate and on every holdout event) and spec
    (ontology_spec_hash, which covers costs.yaml too, so the cost check comes first to name the
    cause), carries its candidate_plan_hash and was discovered on the current windows (fail
    closed); it has at least
    min_holdout_events de-overlapped holdout events; its holdout mean has the sign of its discovery
    mean and passes every cost-stress level up to required_cost_stress_multiplier; and its deflated
    Sharpe ratio reaches min_deflated_sharpe (spec/gates.yaml gate_v1_bridge). -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}
{%- set bridge = spec('gates').get('gate_v1_bridge', {}) if execute else {} %}
{%- set spec_hash = spec_digest('ontology_spec_hash') %}
{%- set cost_digest = spec_digest('cost_config_digest') %}
{%- set required = bridge.get('required_cost_stress_multiplier', 1.5) %}
{%- set min_dsr = bridge.get('min_deflated_sharpe', 0.95) %}
{%- set min_events = bridge.get('min_holdout_events', 10) %}

with

promoted as (

    select * from {{ ref('fct_phase2_results') }} where promotion_track is not null

),

stress as (

    select * from {{ ref('fct_bridge_cost_stress') }}

),

windows as (

    select * from {{ ref('dim_evaluation_windows') }}

),

holdout_digests as (

    select
        candidate_id,
        count(*) filter (where cost_config_digest is distinct from '{{ cost_digest }}') as n_foreign_digests
    from {{ ref('int_bridge__candidate_holdout_events') }}
    group by candidate_id

),

stress_summary as (

    select
        candidate_id,
        bool_and(stress_passed) filter (where cost_multiplier <= {{ required }}) as required_levels_passed,
        max(cost_multiplier) filter (where stress_passed) as max_stress_multiplier_passed,
        count(*) filter (where stress_passed) as n_stress_levels_passed,
        count(*) as n_stress_levels,
        min(cost_multiplier) filter (where not stress_passed) as first_failed_multiplier,
        arg_min(stress_reason, cost_multiplier) filter (where not stress_passed) as first_stress_failure
    from stress
    group by candidate_id

),

at_cost as (

    select * from stress where cost_multiplier = 1

),

joined as (

    select
        promoted.candidate_id,
        promoted.event_type,
        promoted.family,
        promoted.symbol,
        promoted.horizon_bars,
        promoted.rule_template,
        promoted.template_verb,
        promoted.side,
        promoted.state_name,
        promoted.state_value,
        promoted.promotion_track,
        promoted.n as discovery_n,
        promoted.n_deoverlapped as discovery_n_deoverlapped,
        promoted.mean_bps as discovery_mean_bps,
        promoted.median_bps as discovery_median_bps,
        promoted.hit_rate as discovery_hit_rate,
        promoted.t_stat as discovery_t_stat,
        promoted.p_value as discovery_p_value,
        promoted.q_bh as q_value_bh,
        promoted.q_by as q_value_by,
        promoted.shrunken_mean_bps,
        at_cost.* exclude (candidate_id, cost_multiplier, stress_passed, stress_reason, discovery_start, discovery_end,
                           holdout_start, holdout_end, embargo_bars),
        stress_summary.* exclude (candidate_id),
        windows.discovery_start,
        windows.discovery_end,
        windows.holdout_start,
        windows.holdout_end,
        windows.embargo_bars,
        windows.window_source,
        promoted.ontology_spec_hash,
        promoted.cost_config_digest,
        promoted.candidate_plan_hash,
        promoted.ontology_spec_hash is not distinct from '{{ spec_hash }}' as spec_hash_current,
        promoted.cost_config_digest is not distinct from '{{ cost_digest }}'
            and coalesce(holdout_digests.n_foreign_digests, 0) = 0 as cost_digest_current,
        promoted.discovery_start is not distinct from windows.discovery_start
            and promoted.discovery_end is not distinct from windows.discovery_end
            and promoted.holdout_start is not distinct from windows.holdout_start
            and promoted.holdout_end is not distinct from windows.holdout_end as windows_current
    from promoted
    cross join windows
    left join at_cost on at_cost.candidate_id = promoted.candidate_id
    left join stress_summary on stress_summary.candidate_id = promoted.candidate_id
    left join holdout_digests on holdout_digests.candidate_id = promoted.candidate_id

),

final as (

    select
        *,
        case
            when not cost_digest_current
                then 'fail closed: cost_config_digest ' || coalesce(cost_config_digest, 'missing')
                     || ' of the candidate or its holdout events differs from the current spec/costs.yaml; rebuild phase 2 (make discover-edges)'
            when not spec_hash_current
                then 'fail closed: ontology_spec_hash ' || coalesce(ontology_spec_hash, 'missing')
                     || ' differs from the current spec; rebuild phase 2 (make discover-edges)'
            when candidate_plan_hash is null then 'fail closed: candidate_plan_hash missing'
            when not windows_current
                then 'fail closed: the evaluation windows changed since phase 2 ran on this candidate; rebuild phase 2'
            when coalesce(holdout_n_deoverlapped, 0) < {{ min_events }}
                then coalesce(holdout_n_deoverlapped, 0) || ' de-overlapped holdout events < min_holdout_events {{ min_events }}'
            when holdout_mean_bps is null or sign(holdout_mean_bps) <> sign(discovery_mean_bps)
                then 'holdout mean ' || coalesce(round(holdout_mean_bps, 2) || ' bps', 'undefined')
                     || ' disagrees in sign with the discovery mean ' || round(discovery_mean_bps, 2) || ' bps'
            when not coalesce(required_levels_passed, false)
                then 'cost stress x' || first_failed_multiplier || ': ' || first_stress_failure
            when coalesce(deflated_sharpe_ratio, 0) < {{ min_dsr }}
                then 'deflated Sharpe ' || coalesce(round(deflated_sharpe_ratio, 3) || '', 'undefined')
                     || ' < {{ min_dsr }} (' || coalesce(n_trials || '', '?') || ' trials, expected max Sharpe '
                     || coalesce(round(expected_max_sharpe, 3) || '', 'undefined') || ' per trade, holdout '
                     || coalesce(round(holdout_sharpe_per_trade, 3) || '', 'undefined') || ')'
            else 'passed'
        end as bridge_reason
    from joined

)

select
    *,
    bridge_reason = 'passed' as bridge_passed
from final
order by candidate_id
