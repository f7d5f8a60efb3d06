with

source as (

    select * from {{ lake_scan('um', 'markPriceKlines') }}

),

renamed as (

    select
        symbol,
        interval,
        open_time as ts,
        open,
        high,
        low,
        close,
        data_points,
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    {{ deduplicate(
        'renamed',
        partition_by='symbol, interval, ts',
        order_by='source_file_rank, source_file desc',
    ) }}

),

final as (

    select
        symbol,
        interval,
        ts,
        open,
        high,
        low,
        close,
        data_points,
        source_file

    from deduplicated

)

select * from final
