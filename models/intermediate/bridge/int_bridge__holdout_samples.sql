{#- Bridge input: every fired event of the holdout window at every horizon, with its forward
    return, funding, cost and the market states at the event bar (macros/discovery/event_samples.sql;
    the same columns as int_phase2__event_samples, which reads the discovery window). A label model. -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}

{{ event_samples('holdout') }}
