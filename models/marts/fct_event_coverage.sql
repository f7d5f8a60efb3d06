{#- Where each event could be evaluated: per event x symbol x calendar month (UTC), the bars, the
    evaluable bars, the events, the prevalence (events / evaluable bars), the inputs never known in
    that period (no book ticker, no liquidations, no metrics) and a status with its reason. An event
    absent from fct_events for a symbol-month is either 'evaluable' with zero events or listed here
    as not evaluable, never silently missing. -#}
{{ config(materialized='table', tags=['events']) }}

{{ event_coverage_sql() }}
