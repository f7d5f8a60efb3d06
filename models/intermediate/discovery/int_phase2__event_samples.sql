{#- Phase 2 input: every fired event of the discovery window at every horizon, with its forward
    return, funding, cost and the market states at the event bar (macros/discovery/event_samples.sql).
    The holdout window is never read here: the bridge evaluation owns it. A label model. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}

{{ event_samples('discovery') }}
