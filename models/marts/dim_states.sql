{#- Market states, one row per (symbol, ts) of fct_features: a small categorical column per
    spec/states/*.yaml (CASE over features, first matching case wins, else the default), NULL when
    any of the state's input features is NULL. Used as conditioning downstream. -#}
{{ config(
    materialized='table',
    tags=['features'],
    post_hook="{{ state_column_comments(this) }}",
) }}
{%- set plan = feature_spec_json("state_plan_json()") %}

with

features as (

    select * from {{ ref('fct_features') }}

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
