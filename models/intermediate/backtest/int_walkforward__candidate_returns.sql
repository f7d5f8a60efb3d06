{#- The after-cost return of every planned phase 2 hypothesis (fct_phase2_candidates, whatever its
    plan status in the discovery window) on every event of the whole history that it covers: the
    event's type, symbol and horizon, its state condition holding at the event bar, and a defined
    side. Per-trade return in bps = side x gross x 1e4 - round-trip cost - side x funding x 1e4, as
    in phase 2; events whose window touches a gap or whose funding is unknown are left out. A label
    model (the returns look forward); walk-forward splits pick the events of their windows. -#}
{{ config(materialized='table', tags=['backtest', 'walkforward', 'label']) }}

with

candidates as (

    select candidate_id, event_type, symbol, horizon_bars, side, state_name, state_value
    from {{ ref('fct_phase2_candidates') }}

),

outcomes as (

    select * from {{ ref('int_events__outcomes') }}
    where gross_return is not null and funding_known and not window_touches_gap

),

states as (

    select * from {{ ref('dim_states') }}

),

matched as (

    select
        candidates.candidate_id,
        outcomes.ts,
        outcomes.horizon_bars,
        outcomes.entry_lag_bars,
        {{ trade_side_sign('candidates.side', 'outcomes.direction_sign') }} as side_sign,
        outcomes.gross_return,
        outcomes.funding_rate_sum,
        outcomes.round_trip_cost_bps
    from candidates
    inner join outcomes
        on outcomes.event_type = candidates.event_type
        and outcomes.symbol = candidates.symbol
        and outcomes.horizon_bars = candidates.horizon_bars
    left join states on states.symbol = outcomes.symbol and states.ts = outcomes.ts
    where {{ state_condition_holds('candidates.state_name', 'candidates.state_value', 'states') }}

),

final as (

    select
        candidate_id,
        ts,
        horizon_bars,
        entry_lag_bars,
        side_sign * gross_return * 1e4 - round_trip_cost_bps - side_sign * funding_rate_sum * 1e4 as return_bps
    from matched
    where side_sign is not null

)

select * from final
