{#- DuckDB implementation of dbt's cross-database `dbt.safe_cast`: TRY_CAST gives NULL instead
    of failing on a malformed value (dbt-duckdb ships only the plain-CAST default). -#}

{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
