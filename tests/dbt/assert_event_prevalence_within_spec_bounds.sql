{#- Events whose count of fired bars is implausible under the prevalence bounds of their YAML,
    over the whole warehouse: fewer than min x evaluable bars, or more than max x evaluable bars,
    by more than 3.3 binomial standard deviations (+1), so a rare event on few evaluable bars is not
    flagged for firing zero times. A warning, not an error: on real markets prevalence drifts with
    regimes and a researcher should look, not be blocked (tests/events checks the demo market). -#}
{{ config(severity='warn', tags=['events']) }}

with

coverage as (

    select event_type, sum(n_evaluable_bars) as n_evaluable_bars, sum(n_events) as n_events
    from {{ ref('fct_event_coverage') }}
    group by event_type

),

types as (

    select event_type, prevalence_min, prevalence_max from {{ ref('dim_event_types') }}

),

final as (

    select
        types.event_type,
        coverage.n_events,
        coverage.n_evaluable_bars,
        coverage.n_events / coverage.n_evaluable_bars as prevalence,
        types.prevalence_min,
        types.prevalence_max
    from types
    inner join coverage using (event_type)
    where coverage.n_evaluable_bars > 0

)

select * from final
where n_events < prevalence_min * n_evaluable_bars - 3.3 * sqrt(prevalence_min * n_evaluable_bars) - 1
   or n_events > prevalence_max * n_evaluable_bars + 3.3 * sqrt(prevalence_max * n_evaluable_bars) + 1
