{#- A regular 5-minute grid per (market, symbol) from its first to its last bar. A missing bar is a
    row with NULL prices and volumes and is_gap = true: never zero-filled, never forward-filled.
    Materialised as a table: the perp grid is the spine of every side-series model and fct_bars.

    Incremental (macros/incremental): per (market, symbol), the grid goes on from the bar after the
    last one built to the newest bar in the lake (a part new to the lake gets its whole history). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    post_hook="{{ incremental_record_state() }}",
) }}
{%- set clean = clean_settings() -%}

{%- set body -%}
with

resampled as (

    select * from {{ ref('int_bars__resampled_5m') }}
    where {{ incremental_write() }}

),

bounds as (

    select
        market,
        symbol,
        -- on an incremental run, the bar after the last one built (NULL: the first bar)
        coalesce({{ incremental_write_from() }}, min(ts)) as first_ts,
        max(ts) as last_ts
    from resampled
    group by market, symbol

),

grid as (

    {{ time_grid('bounds', ['market', 'symbol'], 'first_ts', 'last_ts', bar_minutes()) }}

),

joined as (

    select
        grid.market,
        grid.symbol,
        grid.ts,
        resampled.open,
        resampled.high,
        resampled.low,
        resampled.close,
        resampled.volume,
        resampled.quote_volume,
        resampled.trade_count,
        resampled.taker_buy_base_volume,
        resampled.taker_buy_quote_volume,
        resampled.source_interval,
        resampled.n_source_bars,
        resampled.is_partial,
        resampled.ts is null as is_gap

    from grid
    left join resampled
        on grid.market = resampled.market
        and grid.symbol = resampled.symbol
        and grid.ts = resampled.ts

),

flagged as (

    select
        joined.*,
        case when low > 0 and high >= low then ln(high / low) end as log_range

    from joined

),

final as (

    select
        market,
        symbol,
        ts,
        {{ dbt.dateadd('minute', bar_minutes(), 'ts') }} as available_at,
        open,
        high,
        low,
        close,
        volume,
        quote_volume,
        trade_count,
        taker_buy_base_volume,
        taker_buy_quote_volume,
        source_interval,
        coalesce(n_source_bars, 0) as n_source_bars,
        is_gap,
        is_partial,
        volume = 0 as is_zero_volume,
        log_range,
        case
            when is_gap then null
            -- a non-positive low or a high below the low is a broken print: flagged too
            when low <= 0 or high < low then true
            else log_range > {{ clean['range_outlier_max_log_range'] }}
        end as is_range_outlier

    from flagged

)

select * from final
order by market, symbol, ts
{%- endset -%}

{{ incremental_finalize(body, parts=['market', 'symbol']) }}
