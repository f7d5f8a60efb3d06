{#- One row per phase 2 run: what was planned and tested, what was discovered and what survived,
    the estimated false discovery rate among the discoveries (the mean BH q-value of the
    discoveries, an estimate of the expected share of false ones), and the hashes that identify the
    plan, the spec and the costs. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}

with

plan as (

    select * from {{ ref('fct_phase2_candidates') }}

),

results as (

    select * from {{ ref('fct_phase2_results') }}

),

planned as (

    select
        count(*) as hypotheses_planned,
        count(*) filter (where plan_status = 'testable') as hypotheses_tested,
        count(*) filter (where plan_status = 'not_evaluable') as hypotheses_not_evaluable,
        count(*) filter (where plan_status = 'too_few_events') as hypotheses_too_few_events,
        count(*) filter (where plan_status = 'over_budget') as hypotheses_over_budget,
        any_value(candidate_plan_hash) as candidate_plan_hash,
        any_value(ontology_spec_hash) as ontology_spec_hash,
        min(window_start) as window_start,
        max(window_end) as window_end,
        any_value(discovery_start) as discovery_start,
        any_value(discovery_end) as discovery_end,
        any_value(holdout_start) as holdout_start,
        any_value(holdout_end) as holdout_end,
        any_value(embargo_bars) as embargo_bars
    from plan

),

outcomes as (

    select
        count(p_value) as hypotheses_with_p_value,
        count(*) filter (where is_discovery) as discoveries_statistical,
        count(*) filter (where is_survivor) as survivors_phase2,
        count(*) filter (where promotion_track = 'standard') as survivors_standard,
        count(*) filter (where promotion_track = 'fallback_only') as survivors_fallback_only,
        sum(q_bh) filter (where is_discovery) as expected_false_discoveries,
        avg(q_bh) filter (where is_discovery) as estimated_fdr,
        any_value(n_groups) as bh_families,
        any_value(n_groups_selected) as bh_families_selected,
        any_value(cost_config_digest) filter (where cost_config_digest is not null) as cost_config_digest
    from results

),

final as (

    select
        sha256(concat_ws('|', planned.candidate_plan_hash, planned.ontology_spec_hash,
                         coalesce(outcomes.cost_config_digest, ''), planned.window_start, planned.window_end,
                         planned.discovery_start, planned.discovery_end, planned.holdout_start, planned.holdout_end))
            as phase2_run_id,
        planned.*,
        outcomes.*
    from planned
    cross join outcomes

)

select * from final
