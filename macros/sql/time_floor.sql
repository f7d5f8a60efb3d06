{#-
    `time_floor(column, minutes)`: the start of the `minutes`-wide UTC bucket holding a timestamp
    (buckets aligned on the Unix epoch; `minutes=1440` gives the UTC day). Independent of the
    session time zone.
-#}

{% macro time_floor(column, minutes) -%}
    {%- if (minutes | int) <= 0 -%}
        {{ exceptions.raise_compiler_error("time_floor: minutes must be a positive integer, got '" ~ minutes ~ "'.") }}
    {%- endif -%}
    {{ return(adapter.dispatch('time_floor', 'binance_warehouse')(column, minutes | int)) }}
{%- endmacro %}

{% macro default__time_floor(column, minutes) -%}
    {{ exceptions.raise_compiler_error(
        "time_floor: time bucketing is not implemented for adapter '" ~ adapter.type()
        ~ "'; add a " ~ adapter.type() ~ "__time_floor macro in macros/sql/time_floor.sql.") }}
{%- endmacro %}

{% macro duckdb__time_floor(column, minutes) -%}
    {#- A minute-based width buckets on absolute microseconds (origin 2000-01-03 00:00 UTC, a
        multiple of every width used here), so the session TimeZone never shifts the buckets. -#}
    time_bucket(interval '{{ minutes }} minutes', {{ column }})
{%- endmacro %}
