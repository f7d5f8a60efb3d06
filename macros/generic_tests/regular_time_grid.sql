{#- Fails with every row whose time is not exactly `interval_minutes` after the previous row of its
    group: a missing bar (step too large), a duplicate (step 0) or an off-grid time. dbt-utils'
    `sequential_values` shape on a timestamp; since the grid runs from each group's first to last
    row, no failing row means no key is missing in between. NULL times are left to not_null. -#}

{% test regular_time_grid(model, column_name, group_by=[], interval_minutes=5) %}
    {{ return(adapter.dispatch('test_regular_time_grid', 'binance_warehouse')(model, column_name, group_by, interval_minutes)) }}
{% endtest %}

{% macro default__test_regular_time_grid(model, column_name, group_by=[], interval_minutes=5) %}
    {%- if group_by is string -%}
        {%- set group_by = [group_by] -%}
    {%- endif -%}
    {%- set partition_clause = ('partition by ' ~ (group_by | join(', '))) if group_by else '' %}

with windowed as (

    select
        {%- for column in group_by %}
        {{ column }},
        {%- endfor %}
        {{ column_name }},
        lag({{ column_name }}) over ({{ partition_clause }} order by {{ column_name }}) as previous_{{ column_name }}
    from {{ model }}
    where {{ column_name }} is not null

),

validation_errors as (

    select *
    from windowed
    where previous_{{ column_name }} is not null
        and not ({{ column_name }} = {{ dbt.dateadd('minute', interval_minutes, 'previous_' ~ column_name) }})

)

select * from validation_errors
{% endmacro %}
