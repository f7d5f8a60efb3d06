{#- One row per bar (symbol, ts) of fct_features, one boolean column per event of spec/events:
    true = fired, false = evaluable and did not fire, NULL = not evaluable there. Incremental
    (macros/incremental): the rows int_events__detected wrote since the last build. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['events'],
    post_hook=["{{ event_flag_comments(this) }}", "{{ incremental_record_state() }}"],
) }}

{%- set body %}
with

detected as (

    select * from {{ ref('int_events__detected') }}
    where {{ incremental_write() }}

),

final as (

    select * exclude (fired_events) from detected

)

select * from final
{%- endset %}

{{ incremental_finalize(body, source=ref('int_events__detected')) }}
