{#-
    `asof_backward_join(left, right, match_columns, left_time, right_time, right_columns)`:
    every row of `left` with the listed columns of the latest `right` row of the same
    `match_columns` whose `right_time` is at or before the left row's `left_time` (NULLs when there
    is none). Backward only: a right row known after the left row's time is never used, which is
    the point-in-time rule of DESIGN section 4. `left` and `right` are relation or CTE names; the
    right columns must not clash with left column names (rename them in the right CTE).

    DuckDB runs a native ASOF LEFT JOIN; the portable default ranks the candidate rows and adds a
    `_asof_rank` column, so callers select their columns explicitly afterwards.
-#}

{% macro asof_backward_join(left, right, match_columns, left_time, right_time, right_columns) -%}
    {%- if match_columns is string -%}
        {%- set match_columns = [match_columns] -%}
    {%- endif -%}
    {%- if right_columns is string -%}
        {%- set right_columns = [right_columns] -%}
    {%- endif -%}
    {{ return(adapter.dispatch('asof_backward_join', 'binance_warehouse')(left, right, match_columns, left_time, right_time, right_columns)) }}
{%- endmacro %}

{% macro default__asof_backward_join(left, right, match_columns, left_time, right_time, right_columns) -%}
    select *
    from (
        select
            asof_left.*,
            {%- for column in right_columns %}
            asof_right.{{ column }},
            {%- endfor %}
            row_number() over (
                partition by
                    {%- for column in match_columns %} asof_left.{{ column }},{% endfor %} asof_left.{{ left_time }}
                order by asof_right.{{ right_time }} desc
            ) as _asof_rank
        from {{ left }} as asof_left
        left join {{ right }} as asof_right
            on {% for column in match_columns -%}
            asof_left.{{ column }} = asof_right.{{ column }} and {% endfor -%}
            asof_right.{{ right_time }} <= asof_left.{{ left_time }}
    ) as asof_ranked
    where _asof_rank = 1
{%- endmacro %}

{% macro duckdb__asof_backward_join(left, right, match_columns, left_time, right_time, right_columns) -%}
    select
        asof_left.*,
        {%- for column in right_columns %}
        asof_right.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ left }} as asof_left
    asof left join {{ right }} as asof_right
        on {% for column in match_columns -%}
        asof_left.{{ column }} = asof_right.{{ column }} and {% endfor -%}
        asof_left.{{ left_time }} >= asof_right.{{ right_time }}
{%- endmacro %}
