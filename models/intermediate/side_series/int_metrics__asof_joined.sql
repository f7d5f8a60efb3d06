{#- Open interest and long/short ratios known on each perp bar: ASOF JOIN (backward) of the
    5-minute metrics on their availability time (period_end) to the bar's available_at. A reading
    older than the spec's metrics_max_age_minutes is stale: the bar gets NULL, not the old value. -#}
{%- set clean = clean_settings() -%}

with

bars as (

    select * from {{ ref('int_bars__gap_masked') }}

),

metrics as (

    select * from {{ ref('stg_binance__metrics') }}

),

perp_bars as (

    select
        symbol,
        ts,
        available_at
    from bars
    where market = 'perp'

),

readings as (

    select
        symbol,
        open_interest,
        open_interest_value,
        toptrader_long_short_account_ratio,
        toptrader_long_short_position_ratio,
        global_long_short_account_ratio,
        taker_buy_sell_volume_ratio,
        available_at as metrics_available_at
    from metrics

),

joined as (

    {{ asof_backward_join(
        'perp_bars', 'readings', ['symbol'], 'available_at', 'metrics_available_at',
        ['open_interest', 'open_interest_value', 'toptrader_long_short_account_ratio',
         'toptrader_long_short_position_ratio', 'global_long_short_account_ratio',
         'taker_buy_sell_volume_ratio', 'metrics_available_at'],
    ) }}

),

aged as (

    select
        joined.*,
        metrics_available_at >= {{ dbt.dateadd('minute', -1 * clean['metrics_max_age_minutes'], 'available_at') }} as is_fresh

    from joined

),

final as (

    select
        symbol,
        ts,
        available_at,
        case when is_fresh then open_interest end as open_interest,
        case when is_fresh then open_interest_value end as open_interest_value,
        case when is_fresh then toptrader_long_short_account_ratio end as toptrader_long_short_account_ratio,
        case when is_fresh then toptrader_long_short_position_ratio end as toptrader_long_short_position_ratio,
        case when is_fresh then global_long_short_account_ratio end as global_long_short_account_ratio,
        case when is_fresh then taker_buy_sell_volume_ratio end as taker_buy_sell_volume_ratio,
        case when is_fresh then metrics_available_at end as metrics_available_at

    from aged

)

select * from final
