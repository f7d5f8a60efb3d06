{#- Phase 1: the descriptive event study, before costs. Per event type x severity bucket ('all'
    plus each bucket) x symbol x horizon: events, events with a measurable return, clustering (the
    share of events that fire within the horizon of the previous one of the same type on the
    symbol), mean and median forward return of a long position and signed by the event's direction
    (long for direction 'none'), hit rate of the signed return, and the mean cumulative log return
    path from 48 bars before to 288 bars after the event bar's close (every 12 bars). Only events of
    the discovery window (dim_evaluation_windows) are studied: the holdout stays unseen until the
    bridge evaluation; discovery_start and discovery_end are on every row. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}
{%- set settings = discovery_settings() %}
{%- set offsets = range(-48, 289, 12) | list %}

with

outcomes as (

    select * from {{ ref('int_events__outcomes') }} where sample_window = 'discovery'

),

windows as (

    select discovery_start, discovery_end from {{ ref('dim_evaluation_windows') }}

),

events as (

    select events.symbol, events.ts, events.event_type, events.severity
    from {{ ref('fct_events') }} as events
    inner join windows on events.ts >= windows.discovery_start and events.ts < windows.discovery_end

),

bars as (

    select symbol, cast(epoch(ts) // {{ settings['bar_seconds'] }} as bigint) as bar_index, close
    from {{ ref('fct_bars') }}

),

spaced as (

    select
        symbol,
        ts,
        event_type,
        epoch(ts) - epoch(lag(ts) over (partition by symbol, event_type order by ts)) as seconds_since_previous
    from events

),

per_event as (

    select
        outcomes.*,
        outcomes.gross_return * case when outcomes.direction_sign = 0 then 1 else outcomes.direction_sign end as signed_return,
        spaced.seconds_since_previous is not null
            and spaced.seconds_since_previous < outcomes.horizon_bars * {{ settings['bar_seconds'] }} as is_clustered
    from outcomes
    inner join spaced using (symbol, ts, event_type)

),

study as (

    select
        event_type,
        any_value(family) as family,
        coalesce(severity, 'all') as severity,
        symbol,
        horizon_bars,
        count(*) as n_events,
        count(gross_return) as n_with_return,
        avg(case when is_clustered then 1.0 else 0.0 end) as clustering_share,
        avg(gross_return) * 10000 as mean_return_bps,
        median(gross_return) * 10000 as median_return_bps,
        avg(signed_return) * 10000 as mean_signed_return_bps,
        median(signed_return) * 10000 as median_signed_return_bps,
        avg(case when signed_return > 0 then 1.0 when signed_return <= 0 then 0.0 end) as hit_rate
    from per_event
    group by grouping sets ((event_type, symbol, horizon_bars), (event_type, severity, symbol, horizon_bars))

),

path_targets as (

    select
        events.event_type,
        events.severity,
        events.symbol,
        offsets.offset_bars,
        at_event.close as event_close,
        at_event.bar_index + offsets.offset_bars as target_index
    from events
    inner join bars as at_event
        on at_event.symbol = events.symbol
        and at_event.bar_index = cast(epoch(events.ts) // {{ settings['bar_seconds'] }} as bigint)
    cross join (select unnest({{ offsets }}) as offset_bars) as offsets

),

path_points as (

    select
        path_targets.event_type,
        path_targets.severity,
        path_targets.symbol,
        path_targets.offset_bars,
        ln(later.close / path_targets.event_close) * 10000 as log_return_bps
    from path_targets
    inner join bars as later
        on later.symbol = path_targets.symbol and later.bar_index = path_targets.target_index

),

path_means as (

    select
        event_type,
        coalesce(severity, 'all') as severity,
        symbol,
        offset_bars,
        avg(log_return_bps) as mean_log_return_bps
    from path_points
    group by grouping sets ((event_type, symbol, offset_bars), (event_type, severity, symbol, offset_bars))

),

paths as (

    select
        event_type,
        severity,
        symbol,
        list(offset_bars order by offset_bars) as path_offsets_bars,
        list(mean_log_return_bps order by offset_bars) as mean_path_bps
    from path_means
    group by event_type, severity, symbol

),

final as (

    select
        study.*,
        paths.path_offsets_bars,
        paths.mean_path_bps,
        windows.discovery_start,
        windows.discovery_end
    from study
    cross join windows
    left join paths using (event_type, severity, symbol)

)

select * from final
order by event_type, severity, symbol, horizon_bars
