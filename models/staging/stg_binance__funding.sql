with

source as (

    select * from {{ lake_scan('um', 'fundingRate') }}

),

renamed as (

    select
        symbol,
        settlement_time,
        funding_time,
        funding_interval_hours,
        funding_rate,
        -- The rate is published with the settlement's calc_time: not known before it.
        funding_time as available_at,
        {{ lake_relative_path('filename') }} as source_file,
        {{ lake_file_rank('filename') }} as source_file_rank

    from source

),

deduplicated as (

    {{ deduplicate(
        'renamed',
        partition_by='symbol, settlement_time',
        order_by='source_file_rank, source_file desc, funding_time',
    ) }}

),

final as (

    select
        symbol,
        settlement_time,
        funding_time,
        funding_interval_hours,
        funding_rate,
        available_at,
        source_file

    from deduplicated

)

select * from final
