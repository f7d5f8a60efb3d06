{#- Every fired event at every discovery horizon with what happened after it: the forward return
    of a long position (int_labels__forward_returns), the funding it paid, whether the window
    touched a gap, and the round-trip execution cost at the event bar (int_costs__event_execution).
    sample_window says which evaluation window (dim_evaluation_windows) the event's bar falls in:
    discovery, embargo, holdout or outside. Built on labels, so it is a label model too. -#}
{{ config(materialized='table', tags=['label', 'discovery']) }}

with

events as (

    select symbol, ts, event_type, family, direction, severity from {{ ref('fct_events') }}

),

labels as (

    select * from {{ ref('int_labels__forward_returns') }}

),

windows as (

    select * from {{ ref('dim_evaluation_windows') }}

),

costs as (

    select symbol, ts, round_trip_cost_bps, cost_config_digest from {{ ref('int_costs__event_execution') }}

),

final as (

    select
        events.symbol,
        events.ts,
        events.event_type,
        events.family,
        events.direction,
        case events.direction when 'up' then 1 when 'down' then -1 else 0 end as direction_sign,
        events.severity,
        labels.horizon_bars,
        labels.entry_lag_bars,
        labels.entry_ts,
        labels.exit_ts,
        labels.gross_return,
        labels.funding_rate_sum,
        labels.funding_known,
        labels.window_touches_gap,
        costs.round_trip_cost_bps,
        costs.cost_config_digest,
        case
            when events.ts >= windows.discovery_start and events.ts < windows.discovery_end then 'discovery'
            when events.ts >= windows.discovery_end and events.ts < windows.holdout_start then 'embargo'
            when events.ts >= windows.holdout_start and events.ts < windows.holdout_end then 'holdout'
            else 'outside'
        end as sample_window
    from events
    cross join windows
    inner join labels on labels.symbol = events.symbol and labels.ts = events.ts
    left join costs on costs.symbol = events.symbol and costs.ts = events.ts

)

select * from final
order by event_type, symbol, ts, horizon_bars
