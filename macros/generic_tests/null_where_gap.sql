{#- Fails with every gap row (`gap_column` true) that carries a value in any of `columns`: a gap
    must be NULL, never zero-filled or forward-filled. dbt-expectations' conditional-null shape. -#}

{% test null_where_gap(model, columns, gap_column='is_gap') %}
    {{ return(adapter.dispatch('test_null_where_gap', 'binance_warehouse')(model, columns, gap_column)) }}
{% endtest %}

{% macro default__test_null_where_gap(model, columns, gap_column='is_gap') %}
    {%- if columns is string -%}
        {%- set columns = [columns] -%}
    {%- endif -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("null_where_gap: list the columns that must be NULL on gap rows.") }}
    {%- endif %}

with validation_errors as (

    select *
    from {{ model }}
    where {{ gap_column }}
        and (
            {%- for column in columns %}
            {{ column }} is not null{{ " or" if not loop.last }}
            {%- endfor %}
        )

)

select * from validation_errors
{% endmacro %}
