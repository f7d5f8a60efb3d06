{#- One row per fired event: (symbol, ts) of the bar whose close completes the event, the event
    type and family, direction (up/down/none), severity bucket and score, and the attributes the
    event's YAML lists (JSON). Known at available_at; a trade on it enters at the next bar at the
    earliest. -#}
{#- Incremental (macros/incremental): the events of the bars int_events__detected wrote since the
    last build; what it covered is recorded from int_events__detected (a bar without events leaves
    no row here). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['events'],
    post_hook="{{ incremental_record_state() }}",
) }}

{%- set body %}
with

detected as (

    select symbol, ts, available_at, fired_events
    from {{ ref('int_events__detected') }}
    where fired_events is not null
        and {{ incremental_write() }}

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
{%- endset %}

{{ incremental_finalize(body, source=ref('int_events__detected'),
                        coverage=ref('int_events__detected')) }}
