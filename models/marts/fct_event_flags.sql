{#- One row per bar (symbol, ts) of fct_features, one boolean column per event of spec/events:
    true = fired, false = evaluable and did not fire, NULL = not evaluable there. -#}
{{ config(
    materialized='table',
    tags=['events'],
    post_hook="{{ event_flag_comments(this) }}",
) }}

with

detected as (

    select * from {{ ref('int_events__detected') }}

),

final as (

    select * exclude (fired_events) from detected

)

select * from final
