{#- Expressions over the `filename` column that lake_scan / ledger_scan add. -#}

{#- The path below the lake root (`raw/um/klines/interval=5m/symbol=BTCUSDT/2024-01.parquet`), so
    values do not depend on where $BACKTEST_DATA_ROOT happens to live. -#}
{% macro lake_relative_path(column) -%}
    {{ return(adapter.dispatch('lake_relative_path', 'binance_warehouse')(column)) }}
{%- endmacro %}

{% macro default__lake_relative_path(column) -%}
    regexp_extract({{ column }}, '(^|/)((raw|ledger)/(um|spot)/.*)$', 2)
{%- endmacro %}


{#- Preference among files holding the same row, lower is better: a daily archive (`YYYY-MM-DD`,
    the most recently published and re-uploaded) over a monthly one (`YYYY-MM`) over an import
    (`freqtrade`, volume-derived columns NULL). -#}
{% macro lake_file_rank(column) -%}
    {{ return(adapter.dispatch('lake_file_rank', 'binance_warehouse')(column)) }}
{%- endmacro %}

{% macro default__lake_file_rank(column) -%}
    case
        when regexp_matches({{ column }}, '/[0-9]{4}-[0-9]{2}-[0-9]{2}\.parquet$') then 1
        when regexp_matches({{ column }}, '/[0-9]{4}-[0-9]{2}\.parquet$') then 2
        else 3
    end
{%- endmacro %}
