{#- One row per fired event: (symbol, ts) of the bar whose close completes the event, the event
    type and family, direction (up/down/none), severity bucket and score, and the attributes the
    event's YAML lists (JSON). Known at available_at; a trade on it enters at the next bar at the
    earliest. -#}
{{ config(materialized='table', tags=['events']) }}

with

detected as (

    select symbol, ts, available_at, fired_events
    from {{ ref('int_events__detected') }}
    where fired_events is not null

),

unnested as (

    select
        symbol,
        ts,
        available_at,
        unnest(fired_events) as event
    from detected

),

final as (

    select
        symbol,
        ts,
        available_at,
        event.event_type,
        event.family,
        event.direction,
        event.severity,
        event.severity_score,
        cast(event.attributes as json) as attributes
    from unnested

)

select * from final
order by symbol, ts, event_type
