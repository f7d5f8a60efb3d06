with

source as (

    select * from {{ lake_scan('um', 'bookTicker') }}

),

renamed as (

    select
        symbol,
        transaction_time as ts,
        event_time,
        update_id,
        best_bid_price,
        best_bid_qty,
        best_ask_price,
        best_ask_qty,
        -- Known once both the engine time and the publication time have passed.
        greatest(transaction_time, event_time) as available_at,
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    {{ deduplicate(
        'renamed',
        partition_by='symbol, update_id, ts',
        order_by='source_file_rank, source_file desc',
    ) }}

),

final as (

    select
        symbol,
        ts,
        event_time,
        update_id,
        best_bid_price,
        best_bid_qty,
        best_ask_price,
        best_ask_qty,
        available_at,
        source_file

    from deduplicated

)

select * from final
