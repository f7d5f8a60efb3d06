{#- Every event of spec/events detected in one pass over fct_features: one row per bar, a flag per
    event (true = fired, false = evaluable and did not fire, NULL = not evaluable: a gap, an input
    unknown, or a window touching a gap) and `fired_events`, the list of events fired on the bar
    with direction, severity and attributes. Compiled by python_udfs/event_compiler.py. -#}
{#- Incremental (macros/incremental): new bars are appended, reading back the events' longest own
    lookback + cooldown. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['events'],
    post_hook="{{ incremental_record_state() }}",
) }}

{{ event_detected_sql() }}
