with

source as (

    select * from {{ lake_scan('um', 'metrics') }}

),

renamed as (

    select
        symbol,
        -- Ingest normalises both label conventions to period_end; periods are 5 minutes.
        period_end - interval '5 minutes' as ts,
        period_end,
        -- A 5-minute statistic is only known once its period has closed.
        period_end as available_at,
        -- Binance publishes 0 open interest for missing readings: never a real value.
        nullif(sum_open_interest, 0) as open_interest,
        nullif(sum_open_interest_value, 0) as open_interest_value,
        count_toptrader_long_short_ratio as toptrader_long_short_account_ratio,
        sum_toptrader_long_short_ratio as toptrader_long_short_position_ratio,
        count_long_short_ratio as global_long_short_account_ratio,
        sum_taker_long_short_vol_ratio as taker_buy_sell_volume_ratio,
        label_convention,
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    -- The same period can sit in two consecutive daily files (label convention switch):
    -- keep the row of the later file.
    {{ deduplicate(
        'renamed',
        partition_by='symbol, period_end',
        order_by='source_file_rank, source_file desc',
    ) }}

),

final as (

    select
        symbol,
        ts,
        period_end,
        available_at,
        open_interest,
        open_interest_value,
        toptrader_long_short_account_ratio,
        toptrader_long_short_position_ratio,
        global_long_short_account_ratio,
        taker_buy_sell_volume_ratio,
        label_convention,
        source_file

    from deduplicated

)

select * from final
