{#- Fails with every row of `model` where a state column (spec/states/*.yaml) holds a value that is
    not one of the state's labels (NULL passes: a state is NULL when an input is unknown). -#}

{% test accepted_state_values(model) %}
    {{ return(adapter.dispatch('test_accepted_state_values', 'binance_warehouse')(model)) }}
{% endtest %}

{% macro default__test_accepted_state_values(model) %}
{%- set plan = feature_spec_json("state_plan_json()") -%}
{%- set states = plan['states'] if plan is not none else [] %}

select *
from {{ model }}
where false
{%- for state in states %}
    or ({{ state['name'] }} is not null and {{ state['name'] }} not in (
        {%- for label in state['labels'] %}{{ lake_sql_string(label) }}{{ ", " if not loop.last }}{% endfor -%}
    ))
{%- endfor %}
{% endmacro %}
