{#- Clean 5-minute perp bars, one row per (symbol, ts) over each perp symbol's regular grid, with
    the spot bar of the same ts, the perp/spot basis and its state, and every side series known at
    the bar's available_at (ts + 5m). Gaps are rows with NULL values, never zero or carried.

    Incremental (macros/incremental): the perp bars after the last one built, per symbol; every
    input is read for those (symbol, ts) only (the side series still ASOF-join their whole
    history). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    post_hook="{{ incremental_record_state() }}",
) }}
{%- set clean = clean_settings() -%}
{%- set flat_band = clean['basis_flat_band_bps'] / 10000.0 -%}
{%- set write = incremental_write() -%}

{%- set body %}
with

bars as (

    select * from {{ ref('int_bars__gap_masked') }}
    where {{ write }}

),

funding as (

    select * from {{ ref('int_funding__asof_joined') }}
    where {{ write }}

),

metrics as (

    select * from {{ ref('int_metrics__asof_joined') }}
    where {{ write }}

),

liquidations as (

    select * from {{ ref('int_liquidations__aggregated_5m') }}
    where {{ write }}

),

book_ticker as (

    select * from {{ ref('int_book_ticker__aggregated_5m') }}
    where {{ write }}

),

reference_klines as (

    select * from {{ ref('int_reference_klines__resampled_5m') }}
    where {{ write }}

),

perp as (

    select * from bars where market = 'perp'

),

spot as (

    select * from bars where market = 'spot'

),

joined as (

    select
        perp.symbol,
        perp.ts,
        perp.available_at,

        perp.open,
        perp.high,
        perp.low,
        perp.close,
        perp.volume,
        perp.quote_volume,
        perp.trade_count,
        perp.taker_buy_base_volume,
        perp.taker_buy_quote_volume,
        perp.source_interval,
        perp.n_source_bars,
        perp.is_gap,
        perp.is_partial,
        perp.is_zero_volume,
        perp.log_range,
        perp.is_range_outlier,

        spot.open as spot_open,
        spot.high as spot_high,
        spot.low as spot_low,
        spot.close as spot_close,
        spot.volume as spot_volume,
        spot.quote_volume as spot_quote_volume,
        spot.trade_count as spot_trade_count,
        spot.taker_buy_base_volume as spot_taker_buy_base_volume,
        spot.taker_buy_quote_volume as spot_taker_buy_quote_volume,
        -- No spot bar at this ts (a gap on the spot grid, outside it, or no spot market at all).
        coalesce(spot.is_gap, true) as spot_is_gap,
        spot.is_partial as spot_is_partial,
        spot.is_zero_volume as spot_is_zero_volume,
        spot.is_range_outlier as spot_is_range_outlier,

        reference_klines.mark_close,
        reference_klines.index_close,
        reference_klines.premium_close,

        funding.funding_rate,
        funding.funding_interval_hours,
        funding.last_settlement_time,
        funding.next_settlement_time,
        funding.funding_available_at,
        funding.is_settlement_bar,

        metrics.open_interest,
        metrics.open_interest_value,
        metrics.toptrader_long_short_account_ratio,
        metrics.toptrader_long_short_position_ratio,
        metrics.global_long_short_account_ratio,
        metrics.taker_buy_sell_volume_ratio,
        metrics.metrics_available_at,

        liquidations.liquidations_published,
        liquidations.liquidation_count,
        liquidations.liquidation_buy_qty,
        liquidations.liquidation_sell_qty,
        liquidations.liquidation_buy_notional,
        liquidations.liquidation_sell_notional,

        book_ticker.book_update_count,
        book_ticker.book_quoted_spread_bps,
        book_ticker.book_bid_depth_quote,
        book_ticker.book_ask_depth_quote,
        book_ticker.book_available_at

    from perp
    left join spot
        on perp.symbol = spot.symbol
        and perp.ts = spot.ts
    left join reference_klines
        on perp.symbol = reference_klines.symbol
        and perp.ts = reference_klines.ts
    left join funding
        on perp.symbol = funding.symbol
        and perp.ts = funding.ts
    left join metrics
        on perp.symbol = metrics.symbol
        and perp.ts = metrics.ts
    left join liquidations
        on perp.symbol = liquidations.symbol
        and perp.ts = liquidations.ts
    left join book_ticker
        on perp.symbol = book_ticker.symbol
        and perp.ts = book_ticker.ts

),

with_basis as (

    select
        joined.*,
        case when close > 0 and spot_close > 0 then close / spot_close - 1 end as basis

    from joined

),

final as (

    select
        symbol,
        ts,
        available_at,
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
        n_source_bars,
        is_gap,
        is_partial,
        is_zero_volume,
        log_range,
        is_range_outlier,
        spot_open,
        spot_high,
        spot_low,
        spot_close,
        spot_volume,
        spot_quote_volume,
        spot_trade_count,
        spot_taker_buy_base_volume,
        spot_taker_buy_quote_volume,
        spot_is_gap,
        spot_is_partial,
        spot_is_zero_volume,
        spot_is_range_outlier,
        basis,
        case
            when basis > {{ flat_band }} then 'contango'
            when basis < -{{ flat_band }} then 'backwardation'
            when basis is not null then 'flat'
        end as basis_state,
        mark_close,
        index_close,
        premium_close,
        funding_rate,
        funding_interval_hours,
        last_settlement_time,
        next_settlement_time,
        funding_available_at,
        is_settlement_bar,
        open_interest,
        open_interest_value,
        toptrader_long_short_account_ratio,
        toptrader_long_short_position_ratio,
        global_long_short_account_ratio,
        taker_buy_sell_volume_ratio,
        metrics_available_at,
        liquidations_published,
        liquidation_count,
        liquidation_buy_qty,
        liquidation_sell_qty,
        liquidation_buy_notional,
        liquidation_sell_notional,
        book_update_count,
        book_quoted_spread_bps,
        book_bid_depth_quote,
        book_ask_depth_quote,
        book_available_at

    from with_basis

)

select * from final
order by symbol, ts
{%- endset %}

{{ incremental_finalize(body, source="(select * from " ~ ref('int_bars__gap_masked') ~ " where market = 'perp')") }}
