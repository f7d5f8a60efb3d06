{#- Fails with every row where `expression` is false (NULL counts as passing, as in dbt-utils).
    As a column test, `column_name` is prefixed: `expression: ">= 0"`. -#}

{% test expression_is_true(model, expression, column_name=none) %}
    {{ return(adapter.dispatch('test_expression_is_true', 'binance_warehouse')(model, expression, column_name)) }}
{% endtest %}

{% macro default__test_expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
{% if column_name is none -%}
where not ({{ expression }})
{%- else -%}
where not ({{ column_name }} {{ expression }})
{%- endif %}

{% endmacro %}
