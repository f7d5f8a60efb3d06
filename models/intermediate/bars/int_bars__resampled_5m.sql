{#- Perp and spot klines of any interval that tiles a 5-minute bar (1s, 1m, 5m) on one 5-minute
    key per (market, symbol, ts). A published 5m bar passes through; finer bars are aggregated.
    When a bar exists at several intervals the coarsest wins (5m over 1m over 1s). -#}
{%- set bar_seconds = bar_minutes() * 60 -%}

with

perp_klines as (

    select * from {{ ref('stg_binance__perp_klines') }}

),

spot_klines as (

    select * from {{ ref('stg_binance__spot_klines') }}

),

klines as (

    select
        'perp' as market,
        symbol, interval, ts, open, high, low, close,
        volume, quote_volume, trade_count, taker_buy_base_volume, taker_buy_quote_volume
    from perp_klines

    union all

    select
        'spot' as market,
        symbol, interval, ts, open, high, low, close,
        volume, quote_volume, trade_count, taker_buy_base_volume, taker_buy_quote_volume
    from spot_klines

),

tiling as (

    select
        klines.*,
        {{ kline_interval_seconds('interval') }} as interval_seconds,
        {{ time_floor('ts', bar_minutes()) }} as bar_ts
    from klines

),

eligible as (

    -- Only intervals that divide the bar exactly (3m bars straddle 5m bars: not usable).
    select *
    from tiling
    where interval_seconds is not null
        and interval_seconds <= {{ bar_seconds }}
        and mod({{ bar_seconds }}, interval_seconds) = 0

),

published as (

    -- A published 5m kline is the bar as it is.
    select
        market,
        symbol,
        bar_ts as ts,
        interval as source_interval,
        open,
        high,
        low,
        close,
        volume,
        quote_volume,
        trade_count,
        taker_buy_base_volume,
        taker_buy_quote_volume,
        1 as n_source_bars,
        1 as n_expected_source_bars
    from eligible
    where interval_seconds = {{ bar_seconds }}

),

aggregated as (

    select
        market,
        symbol,
        bar_ts as ts,
        interval as source_interval,
        interval_seconds,
        min_by(open, ts) as open,
        max(high) as high,
        min(low) as low,
        max_by(close, ts) as close,
        -- A volume some source kline does not carry (freqtrade import) is unknown, not a partial sum.
        case when count(volume) = count(*) then sum(volume) end as volume,
        case when count(quote_volume) = count(*) then sum(quote_volume) end as quote_volume,
        case when count(trade_count) = count(*) then sum(trade_count) end as trade_count,
        case when count(taker_buy_base_volume) = count(*) then sum(taker_buy_base_volume) end as taker_buy_base_volume,
        case when count(taker_buy_quote_volume) = count(*) then sum(taker_buy_quote_volume) end as taker_buy_quote_volume,
        count(*) as n_source_bars,
        cast({{ bar_seconds }} / interval_seconds as integer) as n_expected_source_bars

    from eligible
    where interval_seconds < {{ bar_seconds }}
    group by market, symbol, bar_ts, interval, interval_seconds

),

coarsest_aggregate as (

    -- 1m over 1s when a bar has both.
    {{ deduplicate('aggregated', partition_by='market, symbol, ts', order_by='interval_seconds desc') }}

),

resampled as (

    select
        coarsest_aggregate.market,
        coarsest_aggregate.symbol,
        coarsest_aggregate.ts,
        coarsest_aggregate.source_interval,
        coarsest_aggregate.open,
        coarsest_aggregate.high,
        coarsest_aggregate.low,
        coarsest_aggregate.close,
        coarsest_aggregate.volume,
        coarsest_aggregate.quote_volume,
        coarsest_aggregate.trade_count,
        coarsest_aggregate.taker_buy_base_volume,
        coarsest_aggregate.taker_buy_quote_volume,
        coarsest_aggregate.n_source_bars,
        coarsest_aggregate.n_expected_source_bars
    from coarsest_aggregate
    -- A published 5m kline wins over any aggregate of the same bar.
    left join published
        on coarsest_aggregate.market = published.market
        and coarsest_aggregate.symbol = published.symbol
        and coarsest_aggregate.ts = published.ts
    where published.ts is null

),

preferred as (

    select * from published
    union all
    select * from resampled

),

final as (

    select
        market,
        symbol,
        ts,
        open,
        high,
        low,
        close,
        volume,
        quote_volume,
        cast(trade_count as bigint) as trade_count,
        taker_buy_base_volume,
        taker_buy_quote_volume,
        source_interval,
        cast(n_source_bars as integer) as n_source_bars,
        n_expected_source_bars,
        n_source_bars < n_expected_source_bars as is_partial

    from preferred

)

select * from final
