{#-
    The one body of every kline staging model (perp, spot, mark, index, premium): rename the lake's
    columns, keep one row per (symbol, interval, ts) preferring daily archives over monthly ones
    over freqtrade imports, and drop the bookkeeping columns. `value_columns` are the kind's
    columns after OHLC (ingest/kinds.py: KLINE_SCHEMA or PRICE_KLINE_SCHEMA).
-#}
{% macro staging_klines(market, kind, value_columns) -%}
with

source as (

    select * from {{ lake_scan(market, kind) }}

),

renamed as (

    select
        symbol,
        interval,
        open_time as ts,
        open,
        high,
        low,
        close,
        {%- for column in value_columns %}
        {{ column }},
        {%- endfor %}
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    {{ deduplicate(
        'renamed',
        partition_by='symbol, interval, ts',
        order_by='source_file_rank, source_file desc',
    ) }}

),

final as (

    select
        symbol,
        interval,
        ts,
        open,
        high,
        low,
        close,
        {%- for column in value_columns %}
        {{ column }},
        {%- endfor %}
        source_file

    from deduplicated

)

select * from final
{%- endmacro %}


{% macro staging_trade_klines(market) -%}
    {{ staging_klines(market, 'klines', ['volume', 'quote_volume', 'trade_count', 'taker_buy_base_volume',
                                         'taker_buy_quote_volume']) }}
{%- endmacro %}


{% macro staging_price_klines(kind) -%}
    {{ staging_klines('um', kind, ['data_points']) }}
{%- endmacro %}
