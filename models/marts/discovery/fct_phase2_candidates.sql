{#- The candidate plan of this run: every candidate template expanded over the symbols of the
    warehouse, one row per hypothesis (event x symbol x horizon x rule template x state condition),
    with a plan status and its reason: testable, not_evaluable (the event could never be evaluated
    on the symbol: missing inputs, named), too_few_events (fewer de-overlapped events than
    gates.yaml min_events) or over_budget (beyond gates.yaml max_hypotheses, in candidate id order).
    Nothing is dropped silently: the number of hypotheses tested is a count of this table.
    candidate_plan_hash identifies the plan; ontology_spec_hash the spec it was planned from. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}
{%- set gates = spec('gates').get('gate_v1_phase2', {}) if execute else {} %}
{%- set min_events = gates.get('min_events', 30) %}
{%- set max_hypotheses = gates.get('max_hypotheses', 200000) %}
{%- set spec_hash = spec_digest('ontology_spec_hash') %}

with

templates as (

    select * from {{ ref('int_phase2__candidate_templates') }}

),

flags as (

    select symbol, ts, available_at from {{ ref('fct_event_flags') }}

),

coverage as (

    select
        event_type,
        symbol,
        sum(n_evaluable_bars) as n_evaluable_bars,
        list_sort(list_distinct(flatten(list(missing_inputs)))) as missing_inputs
    from {{ ref('fct_event_coverage') }}
    group by event_type, symbol

),

cells as (

    select event_type, symbol, horizon_bars, rule_template, state_name, state_value, n, n_deoverlapped
    from {{ ref('int_phase2__cell_statistics') }}

),

windows as (

    select discovery_start, discovery_end, holdout_start, holdout_end, embargo_bars
    from {{ ref('dim_evaluation_windows') }}

),

symbols as (

    select flags.symbol, min(flags.ts) as window_start, max(flags.available_at) as window_end
    from flags
    inner join windows on flags.ts >= windows.discovery_start and flags.ts < windows.discovery_end
    group by flags.symbol

),

expanded as (

    select
        md5(templates.template_id || '|' || symbols.symbol) as candidate_id,
        templates.*,
        symbols.symbol,
        symbols.window_start,
        symbols.window_end,
        windows.discovery_start,
        windows.discovery_end,
        windows.holdout_start,
        windows.holdout_end,
        windows.embargo_bars,
        coalesce(coverage.n_evaluable_bars, 0) as n_evaluable_bars,
        coverage.missing_inputs,
        coalesce(cells.n, 0) as n_events,
        coalesce(cells.n_deoverlapped, 0) as n_deoverlapped
    from templates
    cross join symbols
    cross join windows
    left join coverage on coverage.event_type = templates.event_type and coverage.symbol = symbols.symbol
    left join cells
        on cells.event_type = templates.event_type
        and cells.symbol = symbols.symbol
        and cells.horizon_bars = templates.horizon_bars
        and cells.rule_template = templates.rule_template
        and cells.state_name = templates.state_name
        and cells.state_value = templates.state_value

),

feasibility as (

    select
        *,
        case
            when n_evaluable_bars = 0 then 'not_evaluable'
            when n_deoverlapped < {{ min_events }} then 'too_few_events'
            else 'feasible'
        end as feasibility
    from expanded

),

budgeted as (

    select
        *,
        case when feasibility = 'feasible'
             then row_number() over (partition by feasibility order by candidate_id) end as budget_rank
    from feasibility

),

final as (

    select
        candidate_id,
        template_id,
        event_type,
        family,
        symbol,
        horizon_bars,
        rule_template,
        template_verb,
        side,
        state_name,
        state_value,
        window_start,
        window_end,
        discovery_start,
        discovery_end,
        holdout_start,
        holdout_end,
        embargo_bars,
        n_evaluable_bars,
        n_events,
        n_deoverlapped,
        case
            when feasibility <> 'feasible' then feasibility
            when budget_rank > {{ max_hypotheses }} then 'over_budget'
            else 'testable'
        end as plan_status,
        case
            when feasibility = 'not_evaluable' and len(coalesce(missing_inputs, [])) > 0
                then 'event never evaluable on this symbol: inputs never known (' || array_to_string(missing_inputs, ', ') || ')'
            when feasibility = 'not_evaluable' then 'event never evaluable on this symbol (windows never complete)'
            when feasibility = 'too_few_events'
                then n_deoverlapped || ' de-overlapped events < min_events ' || {{ min_events }} || ' (spec/gates.yaml)'
            when budget_rank > {{ max_hypotheses }} then 'beyond max_hypotheses ' || {{ max_hypotheses }} || ' (spec/gates.yaml)'
        end as plan_reason,
        '{{ spec_hash }}' as ontology_spec_hash
    from budgeted

)

select
    *,
    sha256(string_agg(candidate_id || ':' || plan_status, ',' order by candidate_id) over ()) as candidate_plan_hash
from final
order by candidate_id
