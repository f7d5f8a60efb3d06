{#- Phase 2 results: every testable hypothesis of the candidate plan with its after-cost
    statistics (int_phase2__cell_statistics), q-values, gates and promotion track.

    Multiplicity. BH and BY q-values within each family of hypotheses of spec/multiplicity/
    taxonomy.yaml bh_grouping (family, event, template verb, horizon), computed here with window
    functions on the HAC p-values (valid p-values; the shrunken p-value is a column beside them).
    Because a run tests hundreds of such families, a hypothesis is a statistical discovery only
    when its family is selected first (Benjamini & Bogomolov 2014): each family's Simes p-value (its
    smallest BH q-value) goes through BH across families at max_q_value, and inside the R selected
    families of G a hypothesis needs q_bh <= max_q_value * R / G. Under a complete null, a run makes
    any discovery with probability at most max_q_value, and the expected average FDR over the
    selected families stays at or below it.

    Gates (spec/gates.yaml gate_v1_phase2, per-event overrides): economic (shrunken after-cost mean
    >= min_after_cost_expectancy_bps), conservative cost (after-cost mean with costs x
    conservative_cost_multiplier > 0), stability (first and second half of the events in time agree
    in sign with the mean), state information (the state node keeps weight >=
    min_information_weight_state against its event; unconditioned hypotheses pass). Fail closed: a
    row without the current cost_config_digest or ontology_spec_hash, or with fewer de-overlapped
    events than min_events, is never promoted. Track: standard (discovery + all gates), fallback_only
    (discovery + all gates but state information), else none. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}
{%- set gates_spec = spec('gates') if execute else {} %}
{%- set gates = gates_spec.get('gate_v1_phase2', {}) %}
{%- set catalog = feature_spec_json("event_catalog_json()") %}
{%- set grouping = catalog['bh_grouping'] if catalog is not none else ['family', 'event', 'template_verb', 'horizon_bars'] %}
{%- set group_columns = {'family': 'family', 'event': 'event_type', 'template_verb': 'template_verb',
                         'horizon_bars': 'horizon_bars', 'symbol': 'symbol', 'state': 'state_name'} %}
{%- set spec_hash = spec_digest('ontology_spec_hash') %}
{%- set cost_digest = spec_digest('cost_config_digest') %}
{%- set max_q = gates.get('max_q_value', 0.05) %}



with

plan as (

    select * from {{ ref('fct_phase2_candidates') }} where plan_status = 'testable'

),

cells as (

    select * from {{ ref('int_phase2__cell_statistics') }}

),

costs as (

    select event_type, symbol, list_distinct(list(cost_config_digest)) as cost_config_digests
    from {{ ref('int_events__outcomes') }}
    group by event_type, symbol

),

tested as (

    select
        plan.candidate_id,
        plan.event_type,
        plan.family,
        plan.symbol,
        plan.horizon_bars,
        plan.rule_template,
        plan.template_verb,
        plan.side,
        plan.state_name,
        plan.state_value,
        plan.window_start,
        plan.window_end,
        plan.discovery_start,
        plan.discovery_end,
        plan.holdout_start,
        plan.holdout_end,
        plan.embargo_bars,
        plan.candidate_plan_hash,
        plan.ontology_spec_hash,
        cells.* exclude (event_type, family, symbol, horizon_bars, rule_template, template_verb, side, state_name, state_value),
        case when len(costs.cost_config_digests) = 1 then costs.cost_config_digests[1] end as cost_config_digest,
        concat_ws('|', {% for key in grouping %}plan.{{ group_columns[key] }}{{ ', ' if not loop.last }}{% endfor %}) as bh_group
    from plan
    inner join cells
        on cells.event_type = plan.event_type
        and cells.symbol = plan.symbol
        and cells.horizon_bars = plan.horizon_bars
        and cells.rule_template = plan.rule_template
        and cells.state_name = plan.state_name
        and cells.state_value = plan.state_value
    left join costs on costs.event_type = plan.event_type and costs.symbol = plan.symbol

),

ranked as (

    select
        *,
        count(p_value) over (partition by bh_group) as bh_m,
        case when p_value is not null
             then row_number() over (partition by bh_group order by p_value nulls last, candidate_id) end as bh_k
    from tested

),

within_groups as (

    select
        *,
        case when p_value is not null then least(1.0, min(p_value * bh_m / bh_k) over (
            partition by bh_group order by p_value desc nulls last, candidate_id desc
            rows between unbounded preceding and current row)) end as q_bh,
        case when p_value is not null then least(1.0, min(p_value * bh_m / bh_k
                * list_sum(list_transform(range(1, bh_m + 1), lambda i: 1.0 / i))) over (
            partition by bh_group order by p_value desc nulls last, candidate_id desc
            rows between unbounded preceding and current row)) end as q_by
    from ranked

),

groups as (

    select bh_group, min(q_bh) as group_simes_p
    from within_groups
    group by bh_group

),

groups_ranked as (

    select
        *,
        count(group_simes_p) over () as n_groups,
        row_number() over (order by group_simes_p nulls last, bh_group) as group_k
    from groups

),

groups_selected as (

    select
        *,
        least(1.0, min(group_simes_p * n_groups / group_k) over (
            order by group_simes_p desc nulls last, bh_group desc
            rows between unbounded preceding and current row)) as group_q
    from groups_ranked

),

selection as (

    select
        *,
        group_q <= {{ max_q }} as group_selected,
        count_if(group_q <= {{ max_q }}) over () as n_groups_selected
    from groups_selected

),

gated as (

    select
        within_groups.*,
        selection.group_simes_p,
        selection.group_q,
        selection.group_selected,
        selection.n_groups,
        selection.n_groups_selected,
        {{ max_q }} * selection.n_groups_selected / nullif(selection.n_groups, 0) as q_threshold,
        coalesce(selection.group_selected and within_groups.q_bh
                 <= {{ max_q }} * selection.n_groups_selected / nullif(selection.n_groups, 0), false) as is_discovery,
        coalesce(within_groups.shrunken_mean_bps >= {{ phase2_gate('min_after_cost_expectancy_bps', 2.0) }}, false) as gate_economic,
        coalesce(within_groups.mean_conservative_bps > 0, false) as gate_conservative_cost,
        coalesce(sign(within_groups.mean_first_half_bps) = sign(within_groups.mean_bps)
                 and sign(within_groups.mean_second_half_bps) = sign(within_groups.mean_bps)
                 and within_groups.mean_bps <> 0, false)
            {%- if not gates.get('require_sign_stability', true) %} or true{% endif %} as gate_stability,
        within_groups.state_name = 'all'
            or coalesce(within_groups.shrinkage_weight_state >= {{ phase2_gate('min_information_weight_state', 0.1) }}, false)
            as gate_state_information,
        coalesce(within_groups.cost_config_digest = '{{ cost_digest }}', false)
            and within_groups.ontology_spec_hash = '{{ spec_hash }}'
            and within_groups.n_deoverlapped >= {{ phase2_gate('min_events', 30) }} as gate_fail_closed
    from within_groups
    left join selection using (bh_group)

),

final as (

    select
        *,
        case
            when is_discovery and gate_economic and gate_conservative_cost and gate_stability and gate_fail_closed
                 and gate_state_information then 'standard'
            when is_discovery and gate_economic and gate_conservative_cost and gate_stability and gate_fail_closed
                then 'fallback_only'
        end as promotion_track
    from gated

)

select
    *,
    promotion_track is not null as is_survivor
from final
order by candidate_id
