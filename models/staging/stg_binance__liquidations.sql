with

source as (

    select * from {{ lake_scan('um', 'liquidationSnapshot') }}

),

renamed as (

    select
        symbol,
        time as ts,
        side,
        order_type,
        time_in_force,
        original_quantity,
        price,
        average_price,
        order_status,
        last_fill_quantity,
        accumulated_fill_quantity,
        time as available_at,
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    -- Binance publishes every liquidation twice: identical rows are one event.
    {{ deduplicate(
        'renamed',
        partition_by='symbol, ts, side, order_type, time_in_force, original_quantity, price, '
            ~ 'average_price, order_status, last_fill_quantity, accumulated_fill_quantity',
        order_by='source_file_rank, source_file desc',
    ) }}

),

final as (

    select
        symbol,
        ts,
        side,
        order_type,
        time_in_force,
        original_quantity,
        price,
        average_price,
        order_status,
        last_fill_quantity,
        accumulated_fill_quantity,
        available_at,
        source_file

    from deduplicated

)

select * from final
