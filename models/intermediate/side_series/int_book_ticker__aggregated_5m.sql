{#- Best bid/ask per perp bar where the book ticker archive has updates (NULL elsewhere: the
    fct_bars join is a left join). An update belongs to the bar whose [ts, ts + 5m) holds its
    availability time (the later of engine and publication time), so it is known by the bar's
    available_at. Spread and depth are means over the bar's updates. -#}

with

book_ticker as (

    select * from {{ ref('stg_binance__book_ticker') }}

),

quotes as (

    select
        symbol,
        {{ time_floor('available_at', bar_minutes()) }} as ts,
        available_at,
        -- A crossed or one-sided quote has no meaningful spread.
        case
            when best_bid_price > 0 and best_ask_price >= best_bid_price
                then (best_ask_price - best_bid_price) / ((best_ask_price + best_bid_price) / 2) * 10000
        end as quoted_spread_bps,
        best_bid_price * best_bid_qty as bid_depth_quote,
        best_ask_price * best_ask_qty as ask_depth_quote
    from book_ticker

),

final as (

    select
        symbol,
        ts,
        {{ dbt.dateadd('minute', bar_minutes(), 'ts') }} as available_at,
        count(*) as book_update_count,
        avg(quoted_spread_bps) as book_quoted_spread_bps,
        avg(bid_depth_quote) as book_bid_depth_quote,
        avg(ask_depth_quote) as book_ask_depth_quote,
        max(available_at) as book_available_at
    from quotes
    group by symbol, ts

)

select * from final
