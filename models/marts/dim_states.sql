{#- Market states, one row per (symbol, ts) of fct_features: a small categorical column per
    spec/states/*.yaml (CASE over features, first matching case wins, else the default), NULL when
    any of the state's input features is NULL. Used as conditioning downstream. Incremental
    (macros/incremental): states are row-wise, so only the rows fct_features wrote are computed. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['features'],
    post_hook=["{{ state_column_comments(this) }}", "{{ incremental_record_state() }}"],
) }}
{%- set plan = feature_spec_json("state_plan_json()") %}

{%- set body %}
with

features as (

    select * from {{ ref('fct_features') }}
    where {{ incremental_write() }}

),

final as (

    select
        symbol,
        ts
        {%- if plan is not none %}
        {%- for state in plan['states'] %},
        {{ state['sql'] }} as {{ state['name'] }}
        {%- endfor %}
        {%- endif %}

    from features

)

select * from final
{%- endset %}

{{ incremental_finalize(body, source=ref('fct_features')) }}
