{#- Forced liquidations per perp bar: count, quantity and notional by side. A liquidation belongs
    to the bar whose [ts, ts + 5m) holds its time (= its availability time), so it is known by the
    bar's available_at. Binance publishes liquidations as daily files: on a day whose file was
    published (ingest ledger `ingested`/`imported`, or rows in the lake) a bar without liquidations
    is a true 0; on a day with no published file (`not_published`, quarantined, never fetched)
    the columns are NULL: unknown, not zero. A table: the ingest ledger is JSON, slow to scan
    again for every test and for fct_bars. Incremental (macros/incremental): the bars after the
    last one built, per symbol. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    post_hook="{{ incremental_record_state() }}",
) }}

{%- set body %}
with

bars as (

    select * from {{ ref('int_bars__gap_masked') }}
    where {{ incremental_write() }}

),

liquidations as (

    select * from {{ ref('stg_binance__liquidations') }}

),

ledger as (

    select * from {{ ref('stg_ingest__ledger') }}

),

perp_bars as (

    select
        symbol,
        ts,
        available_at,
        {{ time_floor('ts', 1440) }} as day_start
    from bars
    where market = 'perp'

),

published_by_ledger as (

    select
        symbol,
        {{ dbt.safe_cast("period || ' 00:00:00+00'", 'timestamptz') }} as day_start
    from ledger
    where market = 'um'
        and kind = 'liquidationSnapshot'
        and period_type = 'daily'
        and status in ('ingested', 'imported')

),

published_by_rows as (

    -- Rows in the lake prove the day's file was published, ledger or not (hand-made lakes).
    select distinct
        symbol,
        {{ time_floor('available_at', 1440) }} as day_start
    from liquidations

),

published_days as (

    select symbol, day_start from published_by_ledger
    union
    select symbol, day_start from published_by_rows

),

liquidation_orders as (

    select
        symbol,
        {{ time_floor('available_at', bar_minutes()) }} as ts,
        side,
        coalesce(accumulated_fill_quantity, original_quantity) as quantity,
        coalesce(nullif(average_price, 0), price) as fill_price
    from liquidations

),

per_bar as (

    select
        symbol,
        ts,
        count(*) as liquidation_count,
        sum(case when side = 'BUY' then quantity else 0 end) as liquidation_buy_qty,
        sum(case when side = 'SELL' then quantity else 0 end) as liquidation_sell_qty,
        sum(case when side = 'BUY' then quantity * fill_price else 0 end) as liquidation_buy_notional,
        sum(case when side = 'SELL' then quantity * fill_price else 0 end) as liquidation_sell_notional
    from liquidation_orders
    group by symbol, ts

),

joined as (

    select
        perp_bars.symbol,
        perp_bars.ts,
        perp_bars.available_at,
        published_days.day_start is not null as liquidations_published,
        per_bar.liquidation_count,
        per_bar.liquidation_buy_qty,
        per_bar.liquidation_sell_qty,
        per_bar.liquidation_buy_notional,
        per_bar.liquidation_sell_notional

    from perp_bars
    left join published_days
        on perp_bars.symbol = published_days.symbol
        and perp_bars.day_start = published_days.day_start
    left join per_bar
        on perp_bars.symbol = per_bar.symbol
        and perp_bars.ts = per_bar.ts

),

final as (

    select
        symbol,
        ts,
        available_at,
        liquidations_published,
        case when liquidations_published then coalesce(liquidation_count, 0) end as liquidation_count,
        case when liquidations_published then coalesce(liquidation_buy_qty, 0) end as liquidation_buy_qty,
        case when liquidations_published then coalesce(liquidation_sell_qty, 0) end as liquidation_sell_qty,
        case when liquidations_published then coalesce(liquidation_buy_notional, 0) end as liquidation_buy_notional,
        case when liquidations_published then coalesce(liquidation_sell_notional, 0) end as liquidation_sell_notional

    from joined

)

select * from final
{%- endset %}

{{ incremental_finalize(body, source="(select * from " ~ ref('int_bars__gap_masked') ~ " where market = 'perp')") }}
