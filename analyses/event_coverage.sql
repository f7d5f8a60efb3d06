-- Where each event could be evaluated: per event and symbol, the months, bars, evaluable bars,
-- events, prevalence, and the months it could not be evaluated with the reason (fct_event_coverage).
with

coverage as (

    select * from {{ ref('fct_event_coverage') }}

)

select
    event_type,
    family,
    symbol,
    count(*) as months,
    sum(n_bars) as bars,
    sum(n_evaluable_bars) as evaluable_bars,
    sum(n_events) as events,
    sum(n_events) / nullif(sum(n_evaluable_bars), 0) as prevalence,
    count(*) filter (where coverage_status <> 'evaluable') as months_not_fully_evaluable,
    list(distinct coverage_reason) filter (where coverage_reason is not null) as reasons
from coverage
group by all
order by family, event_type, symbol
