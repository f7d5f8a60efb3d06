{#-
    `deduplicate(relation, partition_by, order_by)` (dbt-utils' signature): a select keeping the
    first row of each `partition_by` group in `order_by` order. `relation` may be a CTE name.
    DuckDB uses QUALIFY; the portable default adds a `_dedupe_row_number` column, so callers
    select their columns explicitly afterwards.
-#}

{% macro deduplicate(relation, partition_by, order_by) -%}
    {{ return(adapter.dispatch('deduplicate', 'binance_warehouse')(relation, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__deduplicate(relation, partition_by, order_by) -%}
    select *
    from (
        select
            _dedupe_inner.*,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as _dedupe_row_number
        from {{ relation }} as _dedupe_inner
    ) as _dedupe_ranked
    where _dedupe_row_number = 1
{%- endmacro %}

{% macro duckdb__deduplicate(relation, partition_by, order_by) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}
