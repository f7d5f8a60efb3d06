{#- Fails with one row per combination of `combination_of_columns` that occurs more than once
    (NULLs compare equal, as in GROUP BY). dbt-utils' test of the same name. -#}

{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'binance_warehouse')(model, combination_of_columns, quote_columns)) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
    {%- if combination_of_columns is string -%}
        {%- set combination_of_columns = [combination_of_columns] -%}
    {%- endif -%}
    {%- if quote_columns -%}
        {%- set columns = [] -%}
        {%- for column in combination_of_columns -%}
            {%- do columns.append(adapter.quote(column)) -%}
        {%- endfor -%}
    {%- else -%}
        {%- set columns = combination_of_columns -%}
    {%- endif -%}
    {%- set columns_csv = columns | join(', ') %}

with validation_errors as (

    select
        {{ columns_csv }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1

)

select * from validation_errors
{% endmacro %}
