-- Event study for one event (dbt var event_type, default VOLUME_CLIMAX): the mean after-cost path
-- of a long position from the entry to each offset of each horizon, per symbol and severity, on the
-- discovery window (fct_phase1_event_study). Render with:
--   dbt compile -s analyses/event_study.sql --vars '{event_type: FUNDING_TIMESTAMP_EVENT}'
-- and run target/compiled/binance_warehouse/analyses/event_study.sql in DuckDB.
with

study as (

    select * from {{ ref('fct_phase1_event_study') }}
    where event_type = '{{ var("event_type", "VOLUME_CLIMAX") }}'

),

paths as (

    select
        symbol,
        severity,
        horizon_bars,
        n_with_return,
        mean_return_bps,
        mean_signed_return_bps,
        hit_rate,
        unnest(path_offsets_bars) as offset_bars,
        unnest(mean_path_bps) as mean_path_bps
    from study

)

select * from paths
order by symbol, severity, horizon_bars, offset_bars
