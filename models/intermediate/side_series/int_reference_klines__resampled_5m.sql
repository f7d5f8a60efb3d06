{#- Mark, index and premium-index closes per perp (symbol, ts): the value at the bar's close,
    ts + 5m. From the 5m kline when published, else from the finer kline (1m, 1s) that ends at the
    bar's close; NULL when neither exists (a close is never taken from an earlier sub-bar). -#}
{%- set bar_seconds = bar_minutes() * 60 -%}

with

mark_klines as (

    select * from {{ ref('stg_binance__mark_klines') }}

),

index_klines as (

    select * from {{ ref('stg_binance__index_klines') }}

),

premium_klines as (

    select * from {{ ref('stg_binance__premium_klines') }}

),

klines as (

    select 'mark' as series, symbol, interval, ts, close from mark_klines
    union all
    select 'index' as series, symbol, interval, ts, close from index_klines
    union all
    select 'premium' as series, symbol, interval, ts, close from premium_klines

),

tiling as (

    select
        klines.*,
        {{ kline_interval_seconds('interval') }} as interval_seconds,
        {{ time_floor('ts', bar_minutes()) }} as bar_ts
    from klines

),

closing_sub_bars as (

    -- The kline that ends exactly where the 5m bar ends (the 5m kline itself, or the last 1m).
    select
        series,
        symbol,
        bar_ts as ts,
        interval_seconds,
        close
    from tiling
    where interval_seconds is not null
        and interval_seconds <= {{ bar_seconds }}
        and mod({{ bar_seconds }}, interval_seconds) = 0
        and {{ dbt.dateadd('second', 'interval_seconds', 'ts') }} = {{ dbt.dateadd('second', bar_seconds, 'bar_ts') }}

),

preferred as (

    {{ deduplicate('closing_sub_bars', partition_by='series, symbol, ts', order_by='interval_seconds desc') }}

),

final as (

    select
        symbol,
        ts,
        max(case when series = 'mark' then close end) as mark_close,
        max(case when series = 'index' then close end) as index_close,
        max(case when series = 'premium' then close end) as premium_close
    from preferred
    group by symbol, ts

)

select * from final
