{#-
    `time_grid(bounds, partition_by, start_column, end_column, step_minutes, ts_column='ts')`:
    a select of every `step_minutes` timestamp from `start_column` to `end_column` (both included)
    for each row of `bounds` (a relation or CTE name), with the `partition_by` columns carried
    along. The spine that int_bars__gap_masked anti-joins to find missing bars.
-#}

{% macro time_grid(bounds, partition_by, start_column, end_column, step_minutes, ts_column='ts') -%}
    {%- if partition_by is string -%}
        {%- set partition_by = [partition_by] -%}
    {%- endif -%}
    {%- if (step_minutes | int) <= 0 -%}
        {{ exceptions.raise_compiler_error("time_grid: step_minutes must be a positive integer, got '" ~ step_minutes ~ "'.") }}
    {%- endif -%}
    {{ return(adapter.dispatch('time_grid', 'binance_warehouse')(bounds, partition_by, start_column, end_column, step_minutes | int, ts_column)) }}
{%- endmacro %}

{% macro default__time_grid(bounds, partition_by, start_column, end_column, step_minutes, ts_column='ts') -%}
    {{ exceptions.raise_compiler_error(
        "time_grid: range generation is not implemented for adapter '" ~ adapter.type()
        ~ "'; add a " ~ adapter.type() ~ "__time_grid macro in macros/sql/time_grid.sql.") }}
{%- endmacro %}

{% macro duckdb__time_grid(bounds, partition_by, start_column, end_column, step_minutes, ts_column='ts') -%}
    select
        {%- for column in partition_by %}
        {{ column }},
        {%- endfor %}
        unnest(generate_series({{ start_column }}, {{ end_column }}, interval '{{ step_minutes }} minutes')) as {{ ts_column }}
    from {{ bounds }}
{%- endmacro %}
