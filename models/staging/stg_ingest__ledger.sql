-- A table, not a view like the rest of staging: the ledger is one small JSON file per archive
-- (about 12,000 on the default demo market), and scanning them costs seconds per query.
{{ config(materialized='table') }}

with

source as (

    select * from {{ ledger_scan() }}

),

final as (

    select
        market,
        kind,
        symbol,
        interval,
        period,
        case
            when regexp_matches(period, '^[0-9]{4}-[0-9]{2}$') then 'monthly'
            when regexp_matches(period, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$') then 'daily'
            else 'import'
        end as period_type,
        status,
        source_url,
        sha256,
        zip_bytes,
        rows_read,
        rows_written,
        duplicates_dropped,
        time_unit,
        had_header,
        lake_path,
        absent_columns,
        days_missing,
        message,
        {{ dbt.safe_cast('ingested_at', 'timestamptz') }} as ingested_at,
        {{ lake_relative_path('filename') }} as ledger_file

    from source

)

select * from final
