{#- The holdout events of every promoted phase 2 candidate (promotion_track standard or
    fallback_only): the candidate's event, symbol, horizon and state condition applied to the
    holdout samples, with the side of its rule template resolved to +1 (long) / -1 (short) (NULL for
    a directional template on an event without a direction). One row per candidate x event. -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}

with

candidates as (

    select candidate_id, event_type, symbol, horizon_bars, side, state_name, state_value
    from {{ ref('fct_phase2_results') }}
    where promotion_track is not null

),

samples as (

    select * from {{ ref('int_bridge__holdout_samples') }}

),

final as (

    select
        candidates.candidate_id,
        samples.event_type,
        samples.symbol,
        samples.ts,
        samples.bar_index,
        samples.horizon_bars,
        {{ trade_side_sign('candidates.side', 'samples.direction_sign') }} as side_sign,
        samples.gross_return,
        samples.funding_rate_sum,
        samples.funding_known,
        samples.round_trip_cost_bps,
        samples.cost_config_digest
    from candidates
    inner join samples
        on samples.event_type = candidates.event_type
        and samples.symbol = candidates.symbol
        and samples.horizon_bars = candidates.horizon_bars
        and {{ state_condition_holds('candidates.state_name', 'candidates.state_value', 'samples') }}

)

select * from final
order by candidate_id, ts
