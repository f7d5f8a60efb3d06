{#- The funding settlement known on each perp bar: ASOF JOIN (backward) of the settlements on their
    availability time (the raw calc_time) to the bar's available_at. A settlement published a few
    ms after a bar closes is not known on that bar. Intervals stay as published (1h/4h/8h). -#}
{%- set clean = clean_settings() -%}

with

bars as (

    select * from {{ ref('int_bars__gap_masked') }}

),

funding as (

    select * from {{ ref('stg_binance__funding') }}

),

perp_bars as (

    select
        symbol,
        ts,
        available_at
    from bars
    where market = 'perp'

),

settlements as (

    select
        symbol,
        settlement_time as last_settlement_time,
        funding_rate,
        funding_interval_hours,
        available_at as funding_available_at
    from funding

),

joined as (

    {{ asof_backward_join(
        'perp_bars', 'settlements', ['symbol'], 'available_at', 'funding_available_at',
        ['last_settlement_time', 'funding_rate', 'funding_interval_hours', 'funding_available_at'],
    ) }}

),

scheduled as (

    select
        symbol,
        ts,
        available_at,
        last_settlement_time,
        funding_rate,
        funding_interval_hours,
        funding_available_at,
        {{ dbt.dateadd('hour', 'funding_interval_hours', 'last_settlement_time') }} as next_settlement_time,
        -- The next settlement is overdue by more than the allowed delay: the data stopped (a
        -- missing settlement, or past the last monthly funding file). An unknown interval is
        -- given the longest standard one (8h) for this check only.
        available_at > {{ dbt.dateadd(
            'minute', clean['funding_max_delay_minutes'],
            dbt.dateadd('hour', 'coalesce(funding_interval_hours, 8)', 'last_settlement_time')) }} as is_stale

    from joined

),

final as (

    select
        symbol,
        ts,
        available_at,
        case when not is_stale then funding_rate end as funding_rate,
        case when not is_stale then funding_interval_hours end as funding_interval_hours,
        case when not is_stale then last_settlement_time end as last_settlement_time,
        case when not is_stale then next_settlement_time end as next_settlement_time,
        case when not is_stale then funding_available_at end as funding_available_at,
        -- A settlement falls inside (ts, ts + 5m]: holding through this bar's close pays funding.
        -- From the settlement known at available_at (its next one, or itself when published a
        -- hair before the hour), never from an unpublished row.
        case
            when not is_stale then
                coalesce(next_settlement_time > ts and next_settlement_time <= available_at, false)
                or (last_settlement_time > ts and last_settlement_time <= available_at)
        end as is_settlement_bar

    from scheduled

)

select * from final
