{#- Every event of spec/events detected in one pass over fct_features: one row per bar, a flag per
    event (true = fired, false = evaluable and did not fire, NULL = not evaluable: a gap, an input
    unknown, or a window touching a gap) and `fired_events`, the list of events fired on the bar
    with direction, severity and attributes. Compiled by python_udfs/event_compiler.py. -#}
{{ config(materialized='table', tags=['events']) }}

{{ event_detected_sql() }}
